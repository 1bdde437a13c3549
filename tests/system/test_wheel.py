"""The wheel: what `pip install zerg` gets, installed in a fresh venv and served from outside the repo.

Database-independent, so it runs once, in the SQLite pass. It needs network access to
PyPI (the build backend and the dependencies) and takes a minute or two.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
import zipfile
from pathlib import Path

import pytest

from tests.procs import free_port, http_json, kill_procs, snapshot, wait_gone

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        bool(os.environ.get("DATABASE_URL")),
        reason="the wheel does not depend on the database: checked once, in the SQLite pass",
    ),
]

REPO = Path(__file__).resolve().parents[2]

# Left out of the build copy: VCS data, environments, caches, and a stale setuptools
# build/ at the top (its build/lib would leak deleted files into the wheel).
TOP_LEVEL_IGNORED = {".git", ".venv", "venv", "build", "dist", "test-artifacts", ".pytest_cache"}
IGNORED_ANYWHERE = {"node_modules", "__pycache__", ".mypy_cache", ".ruff_cache"}


def _ignore(directory: str, names: list[str]) -> set[str]:
    ignored = {n for n in names if n in IGNORED_ANYWHERE or n.endswith((".egg-info", ".pyc"))}
    if Path(directory).resolve() == REPO:
        ignored |= TOP_LEVEL_IGNORED & set(names)
    return ignored


def _run(command: list, timeout: float, **kwargs) -> subprocess.CompletedProcess:
    done = subprocess.run(
        [str(c) for c in command],
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
        **kwargs,
    )
    assert done.returncode == 0, (
        f"{' '.join(map(str, command))} exited with {done.returncode}\n"
        f"--- stdout ---\n{done.stdout[-6000:]}\n--- stderr ---\n{done.stderr[-6000:]}"
    )
    return done


def _clean_env(venv: Path, home: Path) -> dict[str, str]:
    """Our environment minus anything that could make the repo or our venv importable."""
    drop = {"PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP", "VIRTUAL_ENV", "DJANGO_SETTINGS_MODULE", "DATABASE_URL"}
    env = {k: v for k, v in os.environ.items() if k not in drop and not k.startswith("ZERG_")}
    outer_bins = {str(Path(sys.prefix) / "bin"), str(Path(sys.executable).parent)}
    path = [p for p in env.get("PATH", "").split(os.pathsep) if p and p not in outer_bins]
    env["PATH"] = os.pathsep.join([str(venv / "bin"), *path])
    env["PYTHONNOUSERSITE"] = "1"
    env["PYTHONUNBUFFERED"] = "1"
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    env["ZERG_HOME"] = str(home)
    return env


def _get(url: str, timeout: float = 10) -> tuple[int, dict[str, str], bytes]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return response.status, dict(response.headers.items()), response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers.items()), exc.read()


def test_the_wheel_installs_in_a_fresh_venv_and_serves_the_app(tmp_path):
    # --- build, from a copy of the tree so the build leaves nothing behind in the repo
    src = tmp_path / "src"
    shutil.copytree(REPO, src, ignore=_ignore, symlinks=True)
    dist = tmp_path / "dist"
    _run(
        [sys.executable, "-m", "pip", "wheel", ".", "--no-deps", "-w", dist, "--disable-pip-version-check"],
        timeout=900,
        cwd=src,
    )
    wheels = list(dist.glob("zerg-*.whl"))
    assert len(wheels) == 1, f"expected one zerg wheel in {dist}: {os.listdir(dist)}"
    wheel = wheels[0]

    # --- what is inside
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        entry_points = [n for n in names if re.fullmatch(r"zerg-[^/]+\.dist-info/entry_points\.txt", n)]
        assert entry_points, f"no entry_points.txt in {wheel.name}"
        scripts = archive.read(entry_points[0]).decode()
    for required in (
        "frontend/build/index.html",
        "frontend/build/manifest.webmanifest",
        "zerg_site/migrations/0001_initial.py",
    ):
        assert required in names, f"{required} is missing from {wheel.name}"
    assert any(re.fullmatch(r"frontend/build/assets/[^/]+\.js", n) for n in names), (
        f"no frontend/build/assets/*.js in {wheel.name}"
    )
    assert not any(n.startswith(("frontend/node_modules/", "frontend/src/", "tests/")) for n in names), sorted(
        n for n in names if n.startswith(("frontend/node_modules/", "frontend/src/", "tests/"))
    )[:20]
    assert re.search(r"^\s*zerg\s*=\s*zerg_site\.cli:main\s*$", scripts, re.M), scripts

    # --- install into a fresh venv (no system site packages), from outside the repo
    venv = tmp_path / "venv"
    home = tmp_path / "home"
    env = _clean_env(venv, home)
    _run([sys.executable, "-m", "venv", venv], timeout=300, cwd=tmp_path, env=env)
    python = venv / "bin" / "python"
    _run([python, "-m", "pip", "install", wheel], timeout=1800, cwd=tmp_path, env=env)
    where = _run(
        [python, "-c", "import zerg_site, frontend; print(zerg_site.__file__); print(frontend.__file__)"],
        timeout=60,
        cwd=tmp_path,
        env=env,
    ).stdout.split()
    for module_file in where:
        assert Path(module_file).resolve().is_relative_to(venv.resolve()), (
            f"imported from {module_file}, not from the venv {venv}"
        )

    # --- serve from outside the repo
    zerg = venv / "bin" / "zerg"
    assert zerg.exists(), f"the wheel installed no zerg script in {venv / 'bin'}"
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log = tmp_path / "serve.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [str(zerg), "serve", "--host", "127.0.0.1", "--port", str(port)],
            cwd=tmp_path,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
        )

    def output() -> str:
        return log.read_text(errors="replace")[-8000:]

    seen = []
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                status, health = http_json(url + "/api/health", timeout=2)
            except OSError:
                status, health = None, None
            if status == 200:
                break
            code = proc.poll()
            assert code is None, f"zerg serve exited with {code} before /api/health answered\n{output()}"
            assert time.monotonic() < deadline, f"/api/health did not answer 200 within 120s\n{output()}"
            time.sleep(0.2)
        assert health and health.get("status") == "ok", health

        status, headers, body = _get(url + "/")
        page = body.decode("utf-8", errors="replace")
        assert status == 200, f"GET / answered {status}\n{page[:2000]}"
        assert "<div id=" in page or '<script type="module"' in page, (
            f"GET / is not the SPA's index.html:\n{page[:2000]}"
        )
        assets = re.findall(r'(?:src|href)="(/assets/[^"]+)"', page)
        assert assets, f"index.html references no /assets/ file:\n{page[:2000]}"
        status, headers, body = _get(url + assets[0])
        assert status == 200 and body, f"GET {assets[0]} answered {status}"
        cache = {k.lower(): v for k, v in headers.items()}.get("cache-control", "")
        assert "max-age=315360000" in cache or "immutable" in cache, (
            f"hashed asset {assets[0]} has Cache-Control {cache!r}, expected a far-future one"
        )

        # --- stop it, and nothing it started may outlive it
        seen = snapshot(proc.pid)
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(60)
        assert code == 0, f"zerg serve exited with {code} on SIGTERM\n{output()}"
        survivors = wait_gone(seen, timeout=20)
        assert not survivors, f"left running after zerg serve exited: {survivors}"
    finally:
        if proc.poll() is None:
            seen += snapshot(proc.pid)
            proc.kill()
            proc.wait(10)
        kill_procs(seen)
