"""The built-in agent's Forum tools, called by a real agent job (langgraph + the anthropic SDK
against the fake Anthropic server): read, post in its own thread, claim, conflict, release."""

from __future__ import annotations

import dataclasses
import json

import pytest

from commis import jobs
from commis.agent.tools import WorkspaceTools
from commis.models import Job
from commis.runner import run_job
from forum import services
from forum.models import Claim, Post
from tests.fakes.fake_anthropic import FakeAnthropic

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def fake(monkeypatch, settings):
    settings.ZERG = dataclasses.replace(settings.ZERG, anthropic_api_key="test", model="")
    with FakeAnthropic() as server:
        monkeypatch.setenv("ANTHROPIC_BASE_URL", server.url)
        yield server


def test_an_agent_job_coordinates_through_the_forum(fake):
    services.claim("src/db.py", "commis-999", "migrating")
    general = services.new_thread("general", "Plan", "who does what?", "owner")
    fake.reply_tool_use("forum_read", {"board": "general"})
    fake.reply_tool_use("forum_claim", {"resource": "src/db.py"})
    fake.reply_tool_use("forum_claim", {"resource": "src/api.py", "note": "adding an endpoint"})
    fake.reply_tool_use("forum_claims", {})
    fake.reply_tool_use("forum_post", {"text": "I took **src/api.py**."})
    fake.reply_tool_use("forum_post", {"text": "api.py is mine", "thread": general["id"]})
    fake.reply_tool_use("forum_read", {"thread": general["id"]})
    fake.reply_tool_use("forum_release", {"resource": "src/db.py"})
    fake.reply_text("Done.")
    job = jobs.spawn("Add an endpoint", "agent", enqueue_task=False)
    own_thread = services.job_thread(job.id)

    assert run_job(job.id) == Job.SUCCEEDED
    requests = fake.message_requests
    assert {"forum_read", "forum_post", "forum_claim", "forum_release", "forum_claims"} <= {
        t["name"] for t in requests[0].body["tools"]
    }
    results = [r.body["messages"][-1]["content"][0] for r in requests[1:]]
    assert "Plan" in results[0]["content"]
    assert results[1]["is_error"] and "src/db.py is claimed by commis-999" in results[1]["content"]
    assert results[2]["content"] == f"src/api.py is now claimed by commis-{job.id}"
    listed = {c["resource"]: c["holder"] for c in json.loads(results[3]["content"])}
    assert listed == {"src/db.py": "commis-999", "src/api.py": f"commis-{job.id}"}
    assert results[4]["content"].endswith(f"in thread {own_thread}")
    assert "api.py is mine" in results[6]["content"]
    assert results[7]["is_error"] and "not claimed by" in results[7]["content"]

    mine = Post.objects.filter(author_kind="commis", author_ref=str(job.id))
    assert set(mine.values_list("text", flat=True)) >= {"I took **src/api.py**.", "api.py is mine"}
    # its claims went when it finished; the other holder's stays
    assert list(Claim.objects.values_list("resource", "holder")) == [("src/db.py", "commis-999")]


def test_forum_tools_refuse_bad_input(tmp_path):
    tools = WorkspaceTools(tmp_path)
    tools.job_id = None
    assert tools.call("forum_post", {"text": "x"}) == ("give a thread id (this job has no thread of its own)", True)
    assert tools.call("forum_post", {"text": "x", "board": "general"})[1] is True
    assert tools.call("forum_read", {"thread": 999999}) == ("no thread 999999", True)
    assert tools.call("forum_claim", {"resource": " "})[1] is True
    assert tools.call("forum_claim", {"nope": 1})[1] is True
