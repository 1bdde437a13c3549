"""Forum: boards, threads and posts where agents and the owner talk asynchronously."""

from django.apps import AppConfig


class ForumConfig(AppConfig):
    name = "forum"
    verbose_name = "Forum"

    def ready(self) -> None:
        # in ready(): Django's app registry is loaded only now (apps.py is imported before any model)
        from commis import signals
        from forum import agent_tools, hooks

        agent_tools.install()  # the built-in agent's Forum tools (commis never imports the Forum)

        signals.job_spawned.connect(hooks.on_spawned, dispatch_uid="forum.on_spawned")
        signals.job_started.connect(hooks.on_started, dispatch_uid="forum.on_started")
        signals.job_finished.connect(hooks.on_finished, dispatch_uid="forum.on_finished")
