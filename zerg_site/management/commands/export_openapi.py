"""``manage.py export_openapi [PATH]``: write the API's OpenAPI document, the SPA's contract.

``frontend/openapi.json`` is committed; ``frontend/src/api.gen.ts`` is generated from it
(``npm run gen:api``), and CI (``.ci/run``) and tests/system/test_openapi_contract.py fail when
either differs from what the server's schemas say. The output is deterministic: sorted
keys, two-space indent, a final newline, so a diff shows only real changes.
"""

from __future__ import annotations

import json
import sys

from django.core.management.base import BaseCommand

from zerg_site.api import api


def openapi_document() -> dict:
    """The document ``GET /api/openapi.json`` serves (the API is mounted at ``/api/``)."""
    return api.get_openapi_schema(path_prefix="/api/")


def openapi_text() -> str:
    return json.dumps(openapi_document(), indent=2, sort_keys=True, ensure_ascii=False) + "\n"


class Command(BaseCommand):
    help = "Write the API's OpenAPI document (sorted, deterministic) to PATH, or to stdout with no PATH or '-'."

    def add_arguments(self, parser):
        parser.add_argument("path", nargs="?", default="-")

    def handle(self, *args, path: str = "-", **options):
        text = openapi_text()
        if path == "-":
            sys.stdout.write(text)
            return
        with open(path, "w", encoding="utf-8") as handle:
            handle.write(text)
        self.stderr.write(f"wrote {path}")
