"""Zerg's configuration, resolved once per process.

Precedence: default < ``$ZERG_HOME/config.toml`` < environment < command-line flag.
The CLI applies flags by writing them into the environment before anything loads
the config, so child processes (the worker cluster) see the same values.

Every mistake raises :class:`ConfigError` with the file, line and a sentence a person
can act on; the CLI prints it as one line and exits non-zero.
"""

from __future__ import annotations

import ipaddress
import json
import os
import re
import secrets
import tomllib
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from zerg_site import private_files


class ConfigError(Exception):
    """A configuration mistake, phrased for the person who made it."""


# --- tiny strict parsers (a value from TOML may already be typed; env values are str)


def _str(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError(f"expected a string, got {value!r}")
    return value


def _int(value: Any) -> int:
    if isinstance(value, bool):
        raise ValueError(f"expected a whole number, got {value!r}")
    if isinstance(value, int):
        return value
    if isinstance(value, str) and re.fullmatch(r"\s*-?\d+\s*", value):
        return int(value)
    raise ValueError(f"expected a whole number, got {value!r}")


def _positive_int(value: Any) -> int:
    number = _int(value)
    if number < 1:
        raise ValueError(f"expected a number of at least 1, got {number}")
    return number


def _port(value: Any) -> int:
    number = _int(value)
    if not 1 <= number <= 65535:
        raise ValueError(f"expected a port between 1 and 65535, got {number}")
    return number


def _seconds(value: Any) -> float:
    if isinstance(value, bool):
        raise ValueError(f"expected a number of seconds, got {value!r}")
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"expected a number of seconds, got {value!r}") from None
    if number <= 0:
        raise ValueError(f"expected a positive number of seconds, got {value!r}")
    return number


def _url(value: Any) -> str:
    text = _str(value).strip().rstrip("/")
    if not text:
        return ""
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.path:
        raise ValueError(f"expected an origin such as https://zerg.example.com, got {text!r}")
    return text


def _time_zone(value: Any) -> str:
    """An IANA time zone name (``Europe/Paris``): the owner's days, for spend (``spend.query``)."""
    name = _str(value).strip() or "UTC"
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"{name!r} is not an IANA time zone, such as Europe/Paris or UTC") from None
    return name


def _usd(value: Any) -> float | None:
    """A budget in US dollars: a positive amount such as 10 or 2.50 (None: no budget, the default)."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise ValueError(f"expected an amount in US dollars such as 10 or 2.50, got {value!r}")
    text = str(value).strip().removeprefix("$")
    if not re.fullmatch(r"\d+(\.\d+)?", text):
        raise ValueError(f"expected an amount in US dollars such as 10 or 2.50, got {value!r}")
    amount = float(text)
    if not 0 < amount < 1e9:
        raise ValueError(f"expected an amount above 0 (leave it out for no budget), got {value!r}")
    return amount


def _database_url(value: Any) -> str:
    text = _str(value).strip()
    if text and not re.match(r"^(postgres|postgresql|pgsql|sqlite)://", text):
        raise ValueError(
            f"expected postgresql://user:password@host:port/name or sqlite:////path/zerg.db, got {redact_url(text)!r}"
        )
    return text


def _synchronous(value: Any) -> str:
    text = _str(value).strip().upper()
    if text not in ("FULL", "NORMAL"):
        raise ValueError(f"expected FULL or NORMAL, got {value!r}")
    return text


Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def _networks(value: Any) -> tuple[Network, ...]:
    """IP addresses and CIDR networks: a TOML list of strings, or one comma-separated string.

    Strict: ``10.0.0.1/8`` (host bits set) is refused rather than widened, so a typo never
    trusts more than was written. An empty list trusts nobody.
    """
    items = value.split(",") if isinstance(value, str) else value if isinstance(value, list) else None
    if items is None:
        raise ValueError(f'expected IP addresses or networks such as "127.0.0.1, 10.0.0.0/8", got {value!r}')
    if isinstance(value, str) and not value.strip():
        items = []
    networks = []
    for item in items:
        if not isinstance(item, str) or not item.strip():
            raise ValueError(f"expected an IP address or network such as 10.0.0.0/8, got {item!r}")
        try:
            networks.append(ipaddress.ip_network(item.strip()))
        except ValueError as exc:
            raise ValueError(f"{item.strip()!r} is not an IP address or network such as 10.0.0.0/8: {exc}") from None
    return tuple(networks)


def _prices(value: Any) -> dict[str, tuple[float, float, float, float]]:
    """``{model: [input, output, cache read, cache write]}`` in USD per million tokens (a TOML
    table, or JSON in the environment); two numbers mean no cache discount."""
    if isinstance(value, str):
        try:
            value = json.loads(value) if value.strip() else {}
        except json.JSONDecodeError as exc:
            raise ValueError(
                f"expected a JSON object of model: [input, output, cache read, cache write], {exc}"
            ) from None
    if not isinstance(value, dict):
        raise ValueError(
            "expected a table of model = [input, output, cache read, cache write] (USD per million tokens)"
        )
    prices = {}
    for model, price in value.items():
        numbers = price if isinstance(price, list) else None
        if (
            not model.strip()
            or numbers is None
            or len(numbers) not in (2, 4)
            or not all(type(n) in (int, float) and 0 <= n < 1e6 for n in numbers)
        ):
            raise ValueError(
                f"{model!r}: expected [input, output] or [input, output, cache read, cache write], "
                f"non-negative USD per million tokens, got {price!r}"
            )
        full = numbers if len(numbers) == 4 else [numbers[0], numbers[1], numbers[0], numbers[0]]
        prices[model.strip().lower()] = tuple(float(n) for n in full)
    return prices


@dataclass(frozen=True)
class Setting:
    section: str
    key: str
    env: str
    parse: Callable[[Any], Any]
    default: Any
    help: str

    @property
    def attr(self) -> str:
        if self.section == "budget":
            return f"budget_{self.key}"
        return {"url": "database_url"}.get(self.key, self.key)


SETTINGS: tuple[Setting, ...] = (
    Setting("server", "host", "ZERG_HOST", _str, "0.0.0.0", "address zerg serve listens on"),
    Setting("server", "port", "ZERG_PORT", _port, 8080, "port zerg serve listens on"),
    Setting(
        "server",
        "public_url",
        "ZERG_PUBLIC_URL",
        _url,
        "",
        "origin users reach behind an HTTPS reverse proxy; turns on secure cookies",
    ),
    Setting(
        "server",
        "trusted_proxies",
        "ZERG_TRUSTED_PROXIES",
        _networks,
        "127.0.0.0/8, ::1",
        "reverse proxies (IPs or CIDRs, comma-separated) whose X-Forwarded-For/-Proto/-Host are believed "
        "when public_url is set",
    ),
    Setting(
        "server",
        "event_retention_days",
        "ZERG_EVENT_RETENTION_DAYS",
        _positive_int,
        30,
        "live events older than this are pruned",
    ),
    Setting(
        "server",
        "max_upload_mb",
        "ZERG_MAX_UPLOAD_MB",
        _positive_int,
        16,
        "largest ingest request in MiB, compressed and unpacked; a session line longer than this cannot ship",
    ),
    Setting(
        "server",
        "time_zone",
        "ZERG_TIME_ZONE",
        _time_zone,
        "UTC",
        "the owner's IANA time zone: where spend's days begin and end",
    ),
    Setting("commis", "max_concurrent", "ZERG_MAX_CONCURRENT", _positive_int, 5, "commis running at once"),
    Setting("commis", "heartbeat_interval", "ZERG_HEARTBEAT_INTERVAL", _seconds, 10.0, "seconds between heartbeats"),
    Setting("commis", "stale_threshold", "ZERG_STALE_THRESHOLD", _seconds, 60.0, "heartbeat age that counts as dead"),
    Setting("database", "url", "DATABASE_URL", _database_url, "", "empty: SQLite at $ZERG_HOME/zerg.db"),
    Setting(
        "database",
        "synchronous",
        "ZERG_SQLITE_SYNCHRONOUS",
        _synchronous,
        "FULL",
        "FULL survives a power cut; NORMAL only a crash, with cheaper commits",
    ),
    Setting("llm", "anthropic_api_key", "ANTHROPIC_API_KEY", _str, "", "Anthropic API key"),
    Setting("llm", "openai_api_key", "OPENAI_API_KEY", _str, "", "key for an OpenAI-compatible endpoint"),
    Setting("llm", "openai_base_url", "OPENAI_BASE_URL", _str, "", "OpenAI-compatible endpoint"),
    Setting("llm", "model", "ZERG_MODEL", _str, "", "model name; empty picks the provider's default"),
    Setting(
        "commis",
        "workspace_retention_days",
        "ZERG_WORKSPACE_RETENTION_DAYS",
        _positive_int,
        14,
        "workspaces of jobs finished longer ago are deleted by prune_workspaces",
    ),
    Setting(
        "timeline",
        "prices",
        "ZERG_PRICES",
        _prices,
        {},
        "model = [input, output, cache read, cache write] USD per million tokens, over the built-in prices",
    ),
    Setting(
        "budget",
        "daily_usd",
        "ZERG_BUDGET_DAILY_USD",
        _usd,
        None,
        "spend per day (the owner's days) above which schedules and spawns stop; Settings can change it",
    ),
    Setting(
        "budget",
        "monthly_usd",
        "ZERG_BUDGET_MONTHLY_USD",
        _usd,
        None,
        "spend per calendar month above which schedules and spawns stop; Settings can change it",
    ),
)


@dataclass(frozen=True)
class Config:
    home: Path
    config_file: Path
    host: str
    port: int
    public_url: str
    event_retention_days: int
    max_concurrent: int
    heartbeat_interval: float
    stale_threshold: float
    database_url: str
    synchronous: str
    anthropic_api_key: str
    openai_api_key: str
    openai_base_url: str
    model: str
    workspace_retention_days: int = 14
    max_upload_mb: int = 16
    prices: dict = field(default_factory=dict)
    time_zone: str = "UTC"
    budget_daily_usd: float | None = None
    budget_monthly_usd: float | None = None
    trusted_proxies: tuple = (ipaddress.ip_network("127.0.0.0/8"), ipaddress.ip_network("::1"))

    @property
    def sqlite_path(self) -> Path | None:
        if not self.database_url:
            return self.home / "zerg.db"
        if self.database_url.startswith("sqlite://"):
            return Path(self.database_url.removeprefix("sqlite://"))
        return None

    @property
    def database_label(self) -> str:
        """Where the data lives, safe to print (no password)."""
        if self.sqlite_path is not None:
            return f"sqlite:{self.sqlite_path}"
        return redact_url(self.database_url)

    @property
    def secret_key_file(self) -> Path:
        return self.home / "secret_key"


def redact_url(url: str) -> str:
    """``postgresql://u:secret@h/db`` -> ``postgresql://u:***@h/db``."""
    return re.sub(r"(://[^:/@]+:)[^@]*@", r"\1***@", url)


def zerg_home(environ: dict[str, str] | None = None) -> Path:
    env = os.environ if environ is None else environ
    return Path(env.get("ZERG_HOME") or Path.home() / ".zerg").expanduser().absolute()


def _line_of(text: str, section: str, key: str) -> int | None:
    """Best-effort line number of ``key`` inside ``[section]`` for error messages."""
    current = None
    for number, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        header = re.match(r"^\[\s*([^\]\s]+)\s*\]", stripped)
        if header:
            current = header.group(1)
        elif current == section and re.match(rf"^{re.escape(key)}\s*=", stripped):
            return number
    return None


def _read_file(path: Path) -> tuple[dict[tuple[str, str], tuple[Any, int | None]], str]:
    if not path.exists():
        return {}, ""
    try:
        text = path.read_text(encoding="utf-8")
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: {exc}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read it: {exc}") from None
    known = {(s.section, s.key) for s in SETTINGS}
    sections = sorted({s.section for s in SETTINGS})
    found: dict[tuple[str, str], tuple[Any, int | None]] = {}
    for section, table in data.items():
        if not isinstance(table, dict) or section not in sections:
            raise ConfigError(
                f"{path}: unknown section [{section}]; the sections are " + ", ".join(f"[{s}]" for s in sections)
            )
        for key, value in table.items():
            line = _line_of(text, section, key)
            where = f"{path}, line {line}" if line else str(path)
            if (section, key) not in known:
                names = ", ".join(s.key for s in SETTINGS if s.section == section)
                raise ConfigError(f"{where}: unknown setting {key!r} in [{section}]; it takes {names}")
            found[(section, key)] = (value, line)
    return found, text


def load(environ: dict[str, str] | None = None) -> Config:
    """Resolve the configuration from defaults, the config file and the environment."""
    env = os.environ if environ is None else environ
    home = zerg_home(env)
    config_file = home / "config.toml"
    from_file, _ = _read_file(config_file)
    values: dict[str, Any] = {}
    for setting in SETTINGS:
        raw, source = setting.default, None
        if (setting.section, setting.key) in from_file:
            raw, line = from_file[(setting.section, setting.key)]
            source = f"{config_file}, line {line}: [{setting.section}] {setting.key}"
        if env.get(setting.env, "") != "":
            raw, source = env[setting.env], f"environment variable {setting.env}"
        try:
            values[setting.attr] = setting.parse(raw)
        except ValueError as exc:
            raise ConfigError(f"{source}: {exc}") from None
    return Config(home=home, config_file=config_file, **values)


@lru_cache(maxsize=1)
def get() -> Config:
    """The process-wide configuration (loaded on first use)."""
    return load()


def prepare_home(config: Config) -> None:
    """Create ZERG_HOME and its folders, or explain why that is impossible."""
    for folder in (config.home, config.home / "workspaces", config.home / "logs", config.home / "locks"):
        try:
            folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        except OSError as exc:
            raise ConfigError(
                f"cannot create {folder}: {exc.strerror or exc}; set ZERG_HOME to a directory you can write to"
            ) from None
    probe = config.home / f".write-test-{os.getpid()}"
    try:
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        raise ConfigError(
            f"cannot write to {config.home}: {exc.strerror or exc}; set ZERG_HOME to a directory you can write to"
        ) from None


def secret_key(config: Config) -> str:
    """The Django SECRET_KEY, generated once into $ZERG_HOME/secret_key (mode 0600).

    Written whole or not at all (:mod:`zerg_site.private_files`); an empty or unreadable
    file raises :class:`~zerg_site.private_files.KeyFileError` instead of becoming an empty key.
    """
    path = config.secret_key_file
    data = private_files.read_key(path)
    if data is None:
        prepare_home(config)
        try:
            private_files.write_new(path, (secrets.token_urlsafe(50) + "\n").encode())
        except OSError as exc:
            raise private_files.KeyFileError(private_files.cannot_write(path, exc)) from None
        data = private_files.read_key(path)  # ours, or the one another process made first
        if data is None:
            raise private_files.KeyFileError(private_files.unusable(path, "vanished while it was made"))
    try:
        return data.decode("ascii").strip()
    except UnicodeDecodeError:
        raise private_files.KeyFileError(private_files.unusable(path, "is not text")) from None
