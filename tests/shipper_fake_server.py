"""A local fake of the Zerg ingest API for the Shipper's tests and bench (no Django).

It speaks the wire format of ``POST /api/agents/ingest`` (batches, ``agents_ingest/wire.py``; any other
Content-Type gets the server's 415; device token),
stores each (path, generation) as the server would (bytes at offsets, contiguous only,
overlaps checked and not stored twice) and records every request. It can be told to
answer the next requests with a status (413, 429 + Retry-After, 503), to drop the
connection, or to store a batch and then hang (so a test can kill the client after
the server accepted but before the client saved the ack).
"""

from __future__ import annotations

import base64
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from agents_ingest import wire


def as_document(body: bytes) -> dict:
    """A batch body as a JSON-style document, each file's bytes under ``data`` (or ``data_b64`` when
    they are not UTF-8): what the tests read."""
    header, files = wire.decode_batch(body)
    entries = []
    for entry, data in files:
        entry = {k: v for k, v in entry.items() if k != "length"}
        try:
            entry["data"] = data.decode("utf-8")
        except UnicodeDecodeError:
            entry["data_b64"] = base64.b64encode(data).decode()
        entries.append(entry)
    return {"device": header.get("device"), "files": entries}


class FakeIngest:
    def __init__(self, token: str = "good-token", max_body: int | None = None, keep_data: bool = True):
        self.token = token
        self.keep_data = keep_data  # False (benches): keep only lengths, not the bytes
        self.lengths: dict[tuple[str, int], int] = {}
        self.generations: dict[str, int] = {}  # path -> newest generation seen
        self.reject_paths: set[str] = set()  # a request naming one of these gets a 400
        self.max_body = max_body
        self.lock = threading.Lock()
        self.requests: list[dict] = []  # every ingest request that reached the handler
        self.chunks: list[tuple[str, int, int, bytes]] = []  # (path, generation, offset, bytes) stored requests
        self.store: dict[tuple[str, int], bytearray] = {}
        self.conflicts: list[str] = []
        self.plan: list[tuple] = []  # actions for the next ingest requests
        self.hanging = threading.Event()  # set when a "store_then_hang" request is stored
        self.release = threading.Event()
        self.server: ThreadingHTTPServer | None = None

    # --- lifecycle

    def start(self, port: int = 0) -> FakeIngest:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):  # quiet
                pass

            def _reply(self, status: int, document: dict, headers: dict | None = None) -> None:
                body = json.dumps(document).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                for key, value in (headers or {}).items():
                    self.send_header(key, value)
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self):
                if self.path == "/api/health":
                    self._reply(200, {"status": "ok", "version": "fake"})
                else:
                    self._reply(404, {"detail": "not found"})

            def do_POST(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                if self.path != "/api/agents/ingest":
                    self._reply(404, {"detail": "not found"})
                    return
                if self.headers.get("Authorization") != f"Bearer {fake.token}":
                    self._reply(401, {"detail": "invalid or revoked device token"})
                    return
                encoding = self.headers.get("Content-Encoding") or "identity"
                if self.headers.get("Content-Type") != wire.BATCH_TYPE:  # as the server
                    self._reply(415, {"detail": f"send {wire.BATCH_TYPE}"})
                    return
                raw = wire.decompress(body, encoding, 1 << 30)
                document = as_document(raw)
                with fake.lock:
                    if fake.max_body is not None and len(raw) > fake.max_body:
                        action = ("too_large",)
                    elif any(f["path"] in fake.reject_paths for f in document["files"]):
                        action = ("status", 400)
                    else:
                        action = fake.plan.pop(0) if fake.plan else ("ok",)
                    fake.requests.append(
                        {
                            "time": time.monotonic(),
                            "action": action[0],
                            "raw_bytes": len(raw),
                            "encoding": encoding,
                            "content_type": self.headers.get("Content-Type"),
                            "document": document
                            if fake.keep_data
                            else {
                                "device": document.get("device"),
                                "files": [
                                    {k: v for k, v in f.items() if k not in ("data", "data_b64")}
                                    for f in document["files"]
                                ],
                            },
                        }
                    )
                if action[0] == "too_large":
                    self._reply(413, {"detail": f"body over {fake.max_body} bytes"})
                    return
                if action[0] == "status":
                    self._reply(action[1], {"detail": "fake says no"}, action[2] if len(action) > 2 else None)
                    return
                if action[0] == "close":
                    self.close_connection = True
                    return
                answer = fake.ingest(document)
                if action[0] == "store_then_hang":
                    fake.hanging.set()
                    fake.release.wait(30)
                    self.close_connection = True
                    return
                self._reply(200, answer)

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self.server:
            self.release.set()
            self.server.shutdown()
            self.server.server_close()
            self.server = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    # --- what a server does with a batch

    def ingest(self, document: dict) -> dict:
        results, total_lines, total_dupes = [], 0, 0
        with self.lock:
            for entry in document["files"]:
                key = (entry["path"], entry["generation"])
                newest = self.generations.get(entry["path"], 0)
                if entry["generation"] < newest:  # as the real server: an older generation is stale
                    size = len(entry.get("data", "").encode()) or len(base64.b64decode(entry.get("data_b64", "")))
                    results.append(
                        {
                            "path": key[0],
                            "generation": key[1],
                            "acked_offset": entry["offset"] + size,
                            "stale": True,
                            "lines_stored": 0,
                            "lines_duplicate": 0,
                            "events_stored": 0,
                            "malformed": [],
                        }
                    )
                    continue
                self.generations[entry["path"]] = entry["generation"]
                data = base64.b64decode(entry["data_b64"]) if "data_b64" in entry else entry["data"].encode("utf-8")
                offset = entry["offset"]
                if not self.keep_data:
                    length = self.lengths.get(key, 0)
                    if offset <= length:
                        length = max(length, offset + len(data))
                    self.lengths[key] = length
                    results.append(
                        {
                            "path": key[0],
                            "generation": key[1],
                            "acked_offset": length,
                            "lines_stored": 0,
                            "lines_duplicate": 0,
                            "events_stored": 0,
                            "malformed": [],
                        }
                    )
                    continue
                self.chunks.append((entry["path"], entry["generation"], offset, data))
                if entry["provider"] == "gemini":
                    self.store[key] = bytearray(data)
                    results.append(
                        {
                            "path": key[0],
                            "generation": key[1],
                            "acked_offset": len(data),
                            "lines_stored": 1,
                            "lines_duplicate": 0,
                            "events_stored": 0,
                            "malformed": [],
                        }
                    )
                    total_lines += 1
                    continue
                buf = self.store.setdefault(key, bytearray())
                stored = dupes = 0
                if offset <= len(buf):
                    overlap = bytes(buf[offset : offset + len(data)])
                    if overlap != data[: len(overlap)]:
                        self.conflicts.append(f"{key}: bytes at {offset} differ from what was stored")
                    else:
                        fresh = data[len(overlap) :]
                        buf.extend(fresh)
                        stored, dupes = fresh.count(b"\n"), overlap.count(b"\n")
                total_lines += stored
                total_dupes += dupes
                results.append(
                    {
                        "path": key[0],
                        "generation": key[1],
                        "acked_offset": len(buf),
                        "lines_stored": stored,
                        "lines_duplicate": dupes,
                        "events_stored": stored,
                        "malformed": [],
                    }
                )
        return {
            "files": results,
            "lines_stored": total_lines,
            "lines_duplicate": total_dupes,
            "events_stored": total_lines,
        }

    # --- test helpers

    def sent(self, path: str, generation: int = 0) -> list[tuple[int, bytes]]:
        """Every (offset, bytes) received for one file and generation, in arrival order."""
        with self.lock:
            return [(o, d) for p, g, o, d in self.chunks if p == path and g == generation]

    def ingest_requests(self) -> list[dict]:
        with self.lock:
            return [r for r in self.requests if r["document"]["files"]]


# --- a HOME laid out like a laptop's, from the real fixtures

FIXTURES = __import__("pathlib").Path(__file__).resolve().parent.parent.parent / "shared" / "fixtures"
CODEX_ROLLOUT = "rollout-2026-05-11T11-26-55-019e1625-789d-76c0-80ab-3724b5ddb799.jsonl"


def lay_out_home(home) -> list:
    """Copy the fixtures into ``home`` as Claude Code and Codex would have written them.

    Returns the absolute paths of every session file the Shipper should find.
    """
    import shutil
    from pathlib import Path

    home = Path(home)
    projects = home / ".claude" / "projects"
    shutil.copytree(FIXTURES / "claude" / "real_projects", projects)
    sessions = home / ".codex" / "sessions" / "2026" / "05" / "11"
    sessions.mkdir(parents=True)
    shutil.copy(FIXTURES / "codex" / CODEX_ROLLOUT, sessions / CODEX_ROLLOUT)
    archived = home / ".codex" / "archived_sessions"
    archived.mkdir(parents=True)
    shutil.copy(FIXTURES / "codex" / "turn-1.jsonl", archived / "rollout-2026-05-01T10-00-00-turn-1.jsonl")
    return sorted(
        [p.absolute() for p in projects.rglob("*.jsonl")]
        + [sessions / CODEX_ROLLOUT, archived / "rollout-2026-05-01T10-00-00-turn-1.jsonl"]
    )
