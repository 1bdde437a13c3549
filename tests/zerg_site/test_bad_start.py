"""`zerg` refuses a bad start with one line a person can act on, never a traceback."""

from __future__ import annotations

import pytest

from tests.procs import base_env, free_port, run_zerg

pytestmark = pytest.mark.slow


def serve(env):
    return run_zerg(["serve", "--host", "127.0.0.1", "--port", str(free_port())], env, timeout=60)


def one_line(done) -> str:
    """The single stderr line of a refused command (and no traceback anywhere)."""
    assert "Traceback" not in done.stderr, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    return lines[0]


@pytest.mark.parametrize(
    "text, line, words",
    [
        ("[server]\nhost = '127.0.0.1'\nport = \n", 3, "Invalid value"),
        ("[commis]\nmax_concurrent = 'many'\n", 2, "expected a whole number"),
        ("[commis]\nmax_concurrent = 4\nmax_concurent = 5\n", 3, "unknown setting 'max_concurent'"),
    ],
    ids=["toml-syntax", "bad-value", "unknown-key"],
)
def test_it_names_the_file_and_line_of_a_malformed_config(tmp_path, text, line, words):
    home = tmp_path / "home"
    home.mkdir()
    (home / "config.toml").write_text(text)

    done = serve(base_env(home))

    assert done.returncode == 2
    message = one_line(done)
    assert message.startswith("zerg: config error: "), message
    assert str(home / "config.toml") in message
    assert f"line {line}" in message
    assert words in message
    assert not (home / "zerg.db").exists()


@pytest.mark.parametrize("value", ["http", "70000", "0"])
def test_it_refuses_a_bad_zerg_port(tmp_path, value):
    done = run_zerg(["serve", "--host", "127.0.0.1"], base_env(tmp_path / "home", ZERG_PORT=value), timeout=60)

    assert done.returncode == 2
    message = one_line(done)
    assert "environment variable ZERG_PORT" in message
    assert value in message


def test_it_says_it_cannot_open_an_unreachable_database(tmp_path):
    url = "postgresql://zerg@127.0.0.1:1/zerg"  # nothing listens on port 1

    done = serve(base_env(tmp_path / "home", DATABASE_URL=url))

    assert done.returncode != 0
    message = one_line(done)
    assert message.startswith(f"zerg: cannot open the database {url}"), message


def test_it_says_it_cannot_create_a_zerg_home_under_a_file(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder\n")

    done = serve(base_env(blocker / "home"))

    assert done.returncode != 0
    message = one_line(done)
    assert "cannot create" in message and str(blocker / "home") in message, message


def test_it_refuses_a_too_short_password(zerg_env):
    done = run_zerg(["passwd", "--stdin"], zerg_env, input="abc\n")

    assert done.returncode == 2
    message = one_line(done)
    assert "password refused" in message
    assert "too short" in message
