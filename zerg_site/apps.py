from django.apps import AppConfig


class ZergSiteConfig(AppConfig):
    name = "zerg_site"
    verbose_name = "Zerg"

    def ready(self):
        # in ready(): Django's app registry is loaded only now (apps.py is imported before any model)
        from zerg_site import checks  # noqa: F401  (registers the system checks)
        from zerg_site.push import receivers

        receivers.connect()  # Web Push on commis, Sauron and Oikos signals
