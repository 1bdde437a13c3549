from django.apps import AppConfig


class OikosConfig(AppConfig):
    name = "oikos"
    verbose_name = "Oikos"

    def ready(self) -> None:
        # in ready(): Django's app registry is loaded only now (apps.py is imported before any model)
        from commis.signals import job_finished
        from oikos.notify import job_finished as report_back

        job_finished.connect(report_back, dispatch_uid="oikos.notify.job_finished")
        try:
            from forum.signals import oikos_mentioned
        except ImportError:  # no Forum in this installation
            return
        from oikos.notify import forum_mentioned

        oikos_mentioned.connect(forum_mentioned, dispatch_uid="oikos.notify.forum_mentioned")
