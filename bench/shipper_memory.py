"""Peak RSS of ``zerg ship --once`` shipping a large synthetic history.

Builds SIZE_MB of Claude Code / Codex JSONL in a temporary HOME by replicating the real
fixtures' lines (``../shared/fixtures``): many session files of a few MB plus a few
large ones (so both "many files" and "one huge file" are exercised), connects the
Shipper to a local fake ingest server (tests/shipper_fake_server.py, which keeps only
lengths, not data) and runs ``zerg ship --once`` as a child process. Peak RSS is the
child's ``ru_maxrss``; it also prints throughput and checks every byte was acknowledged.

    python bench/shipper_memory.py [SIZE_MB]      # default 1024
"""

from __future__ import annotations

import resource
import subprocess
import sys
import time
from pathlib import Path

import targets  # noqa: E402
from _common import REPO, scratch

from tests.procs import base_env
from tests.shipper_fake_server import CODEX_ROLLOUT, FIXTURES, FakeIngest

TARGET_MB = targets.SHIPPER_RSS_MB


def fixture_lines() -> list[bytes]:
    lines = []
    for path in sorted((FIXTURES / "claude" / "real_projects").rglob("*.jsonl")):
        lines.extend(path.read_bytes().splitlines(keepends=True))
    lines.extend((FIXTURES / "codex" / CODEX_ROLLOUT).read_bytes().splitlines(keepends=True))
    return [line if line.endswith(b"\n") else line + b"\n" for line in lines if line.strip()]


def build_history(home: Path, size_mb: int) -> tuple[int, int]:
    """(files, bytes) written: 4 large files of size/16 each, the rest in ~4 MB sessions."""
    lines = fixture_lines()
    projects = home / ".claude" / "projects"
    target = size_mb << 20
    big = target // 16
    written = files = 0
    cursor = 0
    while written < target:
        size = big if files < 4 else 4 << 20
        folder = projects / f"-bench-project-{files % 20}"
        folder.mkdir(parents=True, exist_ok=True)
        if files % 10 == 9:
            folder = home / ".codex" / "sessions" / "2026" / "05" / f"{files % 28 + 1:02d}"
            folder.mkdir(parents=True, exist_ok=True)
            path = folder / f"rollout-2026-05-01T00-00-00-{files:06d}.jsonl"
        else:
            path = folder / f"{files:08d}-0000-4000-8000-000000000000.jsonl"
        with open(path, "wb") as handle:
            chunk = 0
            while chunk < size and written + chunk < target:
                line = lines[cursor % len(lines)]
                cursor += 1
                handle.write(line)
                chunk += len(line)
        written += chunk
        files += 1
    return files, written


def main() -> None:
    size_mb = int(sys.argv[1]) if len(sys.argv) > 1 else 1024
    with scratch("zerg-bench-ship-") as root:
        home = root / "home"
        home.mkdir()
        started = time.monotonic()
        files, total = build_history(home, size_mb)
        print(f"history: {files} files, {total / 1e6:.0f} MB in {time.monotonic() - started:.1f}s")
        fake = FakeIngest(keep_data=False).start()
        env = base_env(root / "zerg-home", HOME=str(home))
        for name in ("CLAUDE_CONFIG_DIR", "CODEX_HOME"):
            env.pop(name, None)
        zerg = [sys.executable, "-c", "import sys; from zerg_site.cli import main; sys.exit(main())"]
        try:
            subprocess.run(
                [*zerg, "connect", fake.url, "--token", fake.token], env=env, check=True, capture_output=True, cwd=REPO
            )
            started = time.monotonic()
            done = subprocess.run([*zerg, "ship", "--once", "--quiet"], env=env, cwd=REPO)
            seconds = time.monotonic() - started
        finally:
            fake.stop()
        peak_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
        acked = sum(fake.lengths.values())
        requests = len(fake.ingest_requests())
        print()
        print("| figure | target | value |")
        print("|---|---|---|")
        print(f"| history shipped | - | {total / 1e6:.0f} MB in {files} files, {requests} requests |")
        acked_all = "yes" if acked == total and done.returncode == 0 else f"NO ({acked} of {total})"
        print(f"| every byte acknowledged | yes | {acked_all} |")
        print(f"| `zerg ship --once` peak RSS | < {TARGET_MB} MB | {peak_kb / 1024:.0f} MB |")
        rate = f"{total / 1e6 / seconds:.0f} MB/s ({seconds:.1f}s)"
        print(f"| shipping throughput (fake server in the bench process) | - | {rate} |")


if __name__ == "__main__":
    main()
