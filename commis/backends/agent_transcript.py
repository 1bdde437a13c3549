"""The agent's transcript: its conversation as JSON lines the Timeline ingests (provider ``zerg-agent``).

Written by the agent's child process (no Django there) into ``<artifacts>/transcript.jsonl``; the
worker ingests it as the job runs and once more at its end (``AgentBackend``), as the claude and
codex backends ingest their CLIs' session files. The format is documented with its parser,
``agents_ingest/parsers/zerg_agent.py``.

Append-only, one attempt after another: a resumed attempt first writes the messages of its
checkpoint that the file lacks (``index`` says which it holds), so the file ends up holding the
conversation once, in order, whatever attempt was cut off where. A write that fails (a full disk)
stops the transcript, never the job: the checkpoint still has the conversation.
"""

from __future__ import annotations

import json
import logging
import os
from datetime import UTC, datetime

log = logging.getLogger("zerg.commis")
FILE_NAME = "transcript.jsonl"


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class Transcript:
    """``path`` "" (no transcript wanted): every method does nothing."""

    def __init__(self, path: str, session_id: str):
        self.path = path
        self.session_id = session_id
        self.count = self._count() if path else 0  # messages the file holds (the next index)

    def _count(self) -> int:
        """One past the highest message index in the file (0 when there is no file)."""
        highest = -1
        try:
            with open(self.path, "rb") as handle:
                for line in handle:
                    if b'"index"' not in line:
                        continue
                    try:
                        record = json.loads(line)
                    except ValueError:
                        continue  # a line cut off by a crash: its message is written again
                    if isinstance(record, dict) and type(record.get("index")) is int:
                        highest = max(highest, record["index"])
        except FileNotFoundError:
            return 0
        except OSError as exc:
            log.warning("transcript %s cannot be read (%s): not written", self.path, exc)
            self.path = ""
        return highest + 1

    def _write(self, record: dict) -> None:
        if not self.path:
            return
        data = (
            json.dumps({**record, "session_id": self.session_id, "timestamp": now()}, ensure_ascii=False) + "\n"
        ).encode("utf-8")
        try:
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            try:
                while data:
                    data = data[os.write(fd, data) :]
            finally:
                os.close(fd)
        except OSError as exc:
            log.warning("transcript %s: %s; no more of it is written", self.path, exc)
            self.path = ""

    def start(self, job, attempt: int, cwd: str, provider: str, model: str) -> None:
        self._write({"type": "start", "job": job, "attempt": attempt, "cwd": cwd, "provider": provider, "model": model})

    def sync(self, conversation: list[dict], calls: list[dict]) -> None:
        """Write the messages of ``conversation`` (the whole of it so far) that the file lacks.
        ``calls``: the conversation's model calls, one per assistant message, in order: each
        assistant message's line carries its call's model and usage."""
        call_at = sum(1 for m in conversation[: self.count] if m.get("role") == "assistant")
        for index in range(self.count, len(conversation)):
            message = conversation[index]
            record = {"type": "message", "index": index, "message": message}
            if message.get("role") == "assistant":
                call = calls[call_at] if call_at < len(calls) and isinstance(calls[call_at], dict) else {}
                record["model"] = str(call.get("model") or "")
                record["usage"] = call.get("usage") if isinstance(call.get("usage"), dict) else {}
                call_at += 1
            self._write(record)
            if not self.path:
                return
            self.count = index + 1

    def end(self, status: str, summary: str) -> None:
        self._write({"type": "end", "status": status, "summary": summary})
