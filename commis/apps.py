from django.apps import AppConfig


class CommisConfig(AppConfig):
    name = "commis"
    verbose_name = "Commis"
