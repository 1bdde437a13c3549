from django.apps import AppConfig


class AgentsIngestConfig(AppConfig):
    name = "agents_ingest"
    verbose_name = "Agents ingest"
