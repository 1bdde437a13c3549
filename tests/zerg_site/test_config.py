"""Configuration: precedence, clear errors with file and line, the secret key."""

from __future__ import annotations

import contextlib
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from zerg_site.config import ConfigError, load, prepare_home, secret_key


def write_config(home, text: str):
    home.mkdir(parents=True, exist_ok=True)
    (home / "config.toml").write_text(text)


def test_it_uses_defaults_without_a_file(tmp_path):
    cfg = load({"ZERG_HOME": str(tmp_path)})
    assert (cfg.host, cfg.port, cfg.max_concurrent, cfg.synchronous) == ("0.0.0.0", 8080, 5, "FULL")
    assert cfg.sqlite_path == tmp_path / "zerg.db"
    assert cfg.database_label == f"sqlite:{tmp_path / 'zerg.db'}"


def test_it_applies_file_then_environment(tmp_path):
    write_config(tmp_path, '[server]\nport = 9000\nhost = "127.0.0.1"\n[commis]\nmax_concurrent = 2\n')
    cfg = load({"ZERG_HOME": str(tmp_path), "ZERG_PORT": "9100"})
    assert cfg.port == 9100  # environment beats the file
    assert cfg.host == "127.0.0.1"  # the file beats the default
    assert cfg.max_concurrent == 2


def test_it_reads_database_url_from_environment(tmp_path):
    cfg = load({"ZERG_HOME": str(tmp_path), "DATABASE_URL": "postgresql://zerg:s3cret@db.local:5432/zerg"})
    assert cfg.sqlite_path is None
    assert cfg.database_label == "postgresql://zerg:***@db.local:5432/zerg"


def test_it_reports_malformed_toml_with_file_and_line(tmp_path):
    write_config(tmp_path, '[server]\nport = 8080\nhost = "unterminated\n')
    with pytest.raises(ConfigError) as err:
        load({"ZERG_HOME": str(tmp_path)})
    message = str(err.value)
    assert str(tmp_path / "config.toml") in message
    assert "line 3" in message


def test_it_reports_a_bad_value_with_its_line(tmp_path):
    write_config(tmp_path, '[server]\nhost = "127.0.0.1"\nport = "eighty"\n')
    with pytest.raises(ConfigError) as err:
        load({"ZERG_HOME": str(tmp_path)})
    assert "line 3" in str(err.value) and "port" in str(err.value) and "whole number" in str(err.value)


def test_it_reports_a_bad_environment_value(tmp_path):
    with pytest.raises(ConfigError, match="environment variable ZERG_PORT: expected a port"):
        load({"ZERG_HOME": str(tmp_path), "ZERG_PORT": "70000"})


def test_it_rejects_unknown_sections_and_keys(tmp_path):
    write_config(tmp_path, "[sever]\nport = 1\n")
    with pytest.raises(ConfigError, match=r"unknown section \[sever\]"):
        load({"ZERG_HOME": str(tmp_path)})
    write_config(tmp_path, "[server]\nprot = 1\n")
    with pytest.raises(ConfigError, match=r"line 2: unknown setting 'prot' in \[server\]"):
        load({"ZERG_HOME": str(tmp_path)})


def test_it_rejects_a_public_url_with_a_path(tmp_path):
    with pytest.raises(ConfigError, match="expected an origin"):
        load({"ZERG_HOME": str(tmp_path), "ZERG_PUBLIC_URL": "https://example.com/zerg"})


def test_it_generates_the_secret_key_once_with_mode_0600(tmp_path):
    cfg = load({"ZERG_HOME": str(tmp_path / "home")})
    first = secret_key(cfg)
    assert len(first) > 40
    assert secret_key(cfg) == first
    mode = stat.S_IMODE(os.stat(cfg.secret_key_file).st_mode)
    assert mode == 0o600


def test_it_creates_the_home_layout(tmp_path):
    cfg = load({"ZERG_HOME": str(tmp_path / "new" / "home")})
    prepare_home(cfg)
    for name in ("workspaces", "logs", "locks"):
        assert (cfg.home / name).is_dir()


def test_it_explains_a_home_that_cannot_be_created(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    cfg = load({"ZERG_HOME": str(blocker / "home")})
    with pytest.raises(ConfigError, match="cannot create .*set ZERG_HOME to a directory you can write to"):
        prepare_home(cfg)


@contextlib.contextmanager
def read_only(folder: Path):
    """Make ``folder`` unwritable even for root (chattr +i), or skip where that is impossible."""
    if os.geteuid() == 0:
        if subprocess.run(["chattr", "+i", str(folder)], capture_output=True).returncode != 0:
            pytest.skip("chattr +i is not available to make a folder read-only for root")
        try:
            yield
        finally:
            subprocess.run(["chattr", "-i", str(folder)])
    else:
        folder.chmod(0o555)
        try:
            yield
        finally:
            folder.chmod(0o700)


def test_it_explains_a_read_only_home(tmp_path):
    home = tmp_path / "home"
    for name in ("workspaces", "logs", "locks"):
        (home / name).mkdir(parents=True)
    env = {**os.environ, "ZERG_HOME": str(home)}
    env.pop("DATABASE_URL", None)
    with read_only(home):
        result = subprocess.run([sys.executable, "-m", "zerg_site", "status"], capture_output=True, text=True, env=env)
    assert result.returncode == 2
    assert result.stderr.startswith(f"zerg: config error: cannot write to {home}: ")
    assert "set ZERG_HOME to a directory you can write to" in result.stderr
    assert "Traceback" not in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert not (home / "zerg.db").exists()


def test_it_sizes_the_ingest_limit_from_max_upload_mb(tmp_path):
    write_config(tmp_path, "[server]\nmax_upload_mb = 64\n")
    assert load({"ZERG_HOME": str(tmp_path)}).max_upload_mb == 64
    assert load({"ZERG_HOME": str(tmp_path / "fresh")}).max_upload_mb == 16
    with pytest.raises(ConfigError, match="ZERG_MAX_UPLOAD_MB"):
        load({"ZERG_HOME": str(tmp_path), "ZERG_MAX_UPLOAD_MB": "0"})
    # the running server's limit follows it
    env = {**os.environ, "ZERG_HOME": str(tmp_path), "DJANGO_SETTINGS_MODULE": "zerg_site.settings"}
    env.pop("ZERG_MAX_UPLOAD_MB", None)
    code = (
        "import django; django.setup(); from agents_ingest.api import max_body, max_compressed; "
        "print(max_body(), max_compressed())"
    )
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60)
    assert done.stdout.split() == [str(64 << 20)] * 2, done.stderr


def test_it_reads_trusted_proxies_strictly(tmp_path):
    import ipaddress

    assert load({"ZERG_HOME": str(tmp_path)}).trusted_proxies == (
        ipaddress.ip_network("127.0.0.0/8"),
        ipaddress.ip_network("::1"),
    )
    write_config(tmp_path, '[server]\ntrusted_proxies = ["10.0.0.0/8", "fd00::1"]\n')
    assert [str(n) for n in load({"ZERG_HOME": str(tmp_path)}).trusted_proxies] == ["10.0.0.0/8", "fd00::1/128"]
    cfg = load({"ZERG_HOME": str(tmp_path), "ZERG_TRUSTED_PROXIES": "192.168.1.2, 172.16.0.0/12"})
    assert [str(n) for n in cfg.trusted_proxies] == ["192.168.1.2/32", "172.16.0.0/12"]
    write_config(tmp_path, "[server]\ntrusted_proxies = []\n")
    assert load({"ZERG_HOME": str(tmp_path)}).trusted_proxies == ()  # nobody


def test_it_refuses_a_trusted_proxy_that_is_not_an_address(tmp_path):
    write_config(tmp_path, '[server]\nport = 8080\ntrusted_proxies = ["10.0.0.1/8"]\n')
    with pytest.raises(ConfigError, match=r"line 3: \[server\] trusted_proxies: '10.0.0.1/8' .*host bits set"):
        load({"ZERG_HOME": str(tmp_path)})
    with pytest.raises(ConfigError, match="ZERG_TRUSTED_PROXIES: 'proxy.local' is not an IP address or network"):
        load({"ZERG_HOME": str(tmp_path / "b"), "ZERG_TRUSTED_PROXIES": "127.0.0.1, proxy.local"})
    with pytest.raises(ConfigError, match="expected IP addresses or networks"):
        write_config(tmp_path, "[server]\ntrusted_proxies = 10\n")
        load({"ZERG_HOME": str(tmp_path)})


def test_it_reads_the_budgets_strictly(tmp_path):
    assert (
        load({"ZERG_HOME": str(tmp_path)}).budget_daily_usd,
        load({"ZERG_HOME": str(tmp_path)}).budget_monthly_usd,
    ) == (None, None)
    write_config(tmp_path, "[budget]\ndaily_usd = 10\nmonthly_usd = 250.5\n")
    cfg = load({"ZERG_HOME": str(tmp_path)})
    assert (cfg.budget_daily_usd, cfg.budget_monthly_usd) == (10.0, 250.5)
    cfg = load({"ZERG_HOME": str(tmp_path), "ZERG_BUDGET_DAILY_USD": "$2.50", "ZERG_BUDGET_MONTHLY_USD": "40"})
    assert (cfg.budget_daily_usd, cfg.budget_monthly_usd) == (2.5, 40.0)


@pytest.mark.parametrize("value", ['"lots"', "-5", "0", "true", "[1]", "nan"])
def test_it_refuses_a_budget_that_is_not_an_amount_with_its_line(tmp_path, value):
    write_config(tmp_path, f"[budget]\n\ndaily_usd = {value}\n")
    with pytest.raises(ConfigError) as caught:
        load({"ZERG_HOME": str(tmp_path)})
    assert "config.toml, line 3: [budget] daily_usd: expected an amount" in str(caught.value)


def test_it_refuses_a_bad_budget_in_the_environment(tmp_path):
    with pytest.raises(ConfigError) as caught:
        load({"ZERG_HOME": str(tmp_path), "ZERG_BUDGET_MONTHLY_USD": "1e3"})
    assert str(caught.value) == (
        "environment variable ZERG_BUDGET_MONTHLY_USD: expected an amount in US dollars such as 10 or 2.50, got '1e3'"
    )
