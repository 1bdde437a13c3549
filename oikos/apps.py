from django.apps import AppConfig


class OikosConfig(AppConfig):
    name = "oikos"
    verbose_name = "Oikos"
