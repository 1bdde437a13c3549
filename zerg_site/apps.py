from django.apps import AppConfig


class ZergSiteConfig(AppConfig):
    name = "zerg_site"
    verbose_name = "Zerg"

    def ready(self):
        from zerg_site import checks  # noqa: F401  (registers the system checks)
        from zerg_site.push import receivers

        receivers.connect()  # Web Push on commis, Sauron and Oikos signals
