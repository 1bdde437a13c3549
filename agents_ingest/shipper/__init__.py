"""The ``zerg ship`` client: finds local agent session files and ships them to a Zerg server.

It runs on the owner's laptop, so nothing here imports Django: only the standard library,
``zstandard`` for the batch format and, when installed, ``watchdog`` for file-system events.

- :mod:`.state`   ``$ZERG_HOME/shipper.db``: the server, the token, and per file the
  generation, the queued and the acknowledged byte offsets.
- :mod:`.sources` where the Claude Code, Codex and Gemini files are.
- :mod:`.tail`    complete-line reads from a byte offset, rewrite detection.
- :mod:`.client`  ``POST /api/agents/ingest`` in the batch format (``agents_ingest/wire.py``) over the
  HTTP client it shares with the CLI (``agents_ingest/apiclient.py``: typed errors, ``Retry-After``).
- :mod:`.engine`  the shipping loop: batches, splitting on 413, backoff, acks.
- :mod:`.verify`  the archive identity check: re-verify every file after a server restore.
- :mod:`.watch`   ``zerg ship`` without ``--once``: file events plus periodic rescans.
- :mod:`.service` the systemd user unit / launchd agent for ``zerg ship --install``.
- :mod:`.patch`   the uncommitted changes of a session's repository (session migration).
"""
