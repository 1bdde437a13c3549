from django.apps import AppConfig


class SpendConfig(AppConfig):
    name = "spend"
    verbose_name = "Spend"

    def ready(self) -> None:
        # in ready(): Django's app registry is loaded only now (apps.py is imported before any model)
        # commis and Oikos ask the core whether the day's or month's spend is over budget; spend answers
        from spend.budget import spent_now
        from zerg_site.budget import register_spent

        register_spent(spent_now)
