"""The API's contract: the response schemas are what the server returns, ``frontend/openapi.json``
(from which the SPA's types are generated) is what the server's schemas say, and a view cannot
return a key its schema does not declare.

A stale ``frontend/openapi.json`` fails here as in CI (``.ci/run`` also regenerates
``frontend/src/api.gen.ts`` from it); schemathesis (tests/system/test_api_schema.py) checks the
documented status codes and bodies against a live server.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from ninja import Schema
from pydantic import ValidationError

from commis.models import Job
from commis.schemas import JobOut
from zerg_site.management.commands.export_openapi import openapi_text

ROOT = Path(__file__).resolve().parents[2]
SNAPSHOT = ROOT / "frontend" / "openapi.json"
REGENERATE = (
    "python manage.py export_openapi frontend/openapi.json && (cd frontend && npm run gen:api), "
    "then commit frontend/openapi.json and frontend/src/api.gen.ts (and rebuild frontend/build/)"
)
OUR_APPS = ("zerg_site", "timeline", "commis", "forum", "oikos", "agents_ingest")


def _documented_operations(document: dict) -> list[tuple[str, str, dict]]:
    return [(method.upper(), path, op) for path, item in document["paths"].items() for method, op in item.items()]


def test_it_keeps_the_committed_openapi_json_equal_to_the_servers_schemas():
    assert SNAPSHOT.read_text(encoding="utf-8") == openapi_text(), (
        f"frontend/openapi.json is stale: the server's response schemas changed. Regenerate with: {REGENERATE}"
    )


def test_it_serves_the_same_document_it_commits(owner_client):
    served = owner_client.get("/api/openapi.json")
    assert served.status_code == 200
    assert served.json() == json.loads(openapi_text())


def test_it_documents_a_response_and_its_errors_for_every_operation():
    document = json.loads(openapi_text())
    bare = [
        f"{m} {p}"
        for m, p, op in _documented_operations(document)
        if not any(code.startswith("2") for code in op["responses"])
    ]
    assert bare == [], "operations without a declared success response"
    undescribed = [
        f"{m} {p} {code}"
        for m, p, op in _documented_operations(document)
        for code, answer in op["responses"].items()
        if not answer.get("content")
    ]
    assert undescribed == [], "responses without a body schema"
    owner_only = [
        f"{m} {p}"
        for m, p, op in _documented_operations(document)
        if op.get("security") and "401" not in op["responses"]
    ]
    assert owner_only == [], "authenticated operations that do not document their 401"


def test_it_gives_each_schema_its_own_name():
    """ninja names a component after its class: two classes of one name would silently be one schema."""
    seen: dict[str, type] = {}
    clashes = []
    todo = list(Schema.__subclasses__())
    while todo:
        cls = todo.pop()
        todo.extend(cls.__subclasses__())
        if not cls.__module__.startswith(OUR_APPS):
            continue
        other = seen.setdefault(cls.__name__, cls)
        if other is not cls:
            clashes.append(f"{cls.__name__}: {other.__module__} and {cls.__module__}")
    assert clashes == []


@pytest.mark.django_db
def test_it_refuses_to_answer_with_a_key_the_schema_does_not_declare():
    job = Job.objects.create(task="echo hi")
    document = job.as_dict()
    assert JobOut.model_validate(document).model_dump() == document
    with pytest.raises(ValidationError, match="secret"):
        JobOut.model_validate({**document, "secret": "a key that slipped into as_dict()"})


@pytest.mark.django_db(transaction=True)
def test_it_answers_in_the_shape_and_key_order_of_as_dict(token_client):
    job = Job.objects.create(task="echo hi", usage={"input_tokens": 3}, cost_usd=0.25)
    served = token_client.get(f"/api/commis/jobs/{job.id}")
    assert served.status_code == 200
    expected = job.as_dict()
    assert list(served.json()) == list(expected)
    assert served.json() == expected
    missing = token_client.get("/api/commis/jobs/999999")
    assert missing.status_code == 404 and missing.json() == {"detail": "Not Found"}
