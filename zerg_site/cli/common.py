"""What every ``zerg`` command shares: one-line errors and a checked Django setup."""

from __future__ import annotations

import json
import os
import sys
from typing import NoReturn


class CommandError(Exception):
    """A failure to report as one line, with an exit code."""

    def __init__(self, message: str, code: int = 1):
        super().__init__(message)
        self.code = code


def die(message: str, code: int = 1) -> NoReturn:
    raise CommandError(message, code)


def load_config(keys: bool = True, tighten: bool = True):
    """The resolved config, or a one-line error (exit 2) naming the file and line.

    From here on the process creates files with umask 077: everything under ZERG_HOME
    (database, WAL, logs, workspaces, locks) is the owner's alone. With ``tighten``, a home
    or database files an older version left readable by others are made private before
    anything opens them (``zerg doctor`` passes False: it reports, it does not change).
    With ``keys`` the secret_key must be usable (made if missing): an empty one is a
    one-line error saying what to do (doctor and restore pass False, to report and repair it).
    """
    # lazy: zerg_site.config (django-environ, tomllib) is +7 MB RSS / 20 ms measured alone; `zerg --help` skips it
    from zerg_site import config, private_files

    private_files.use_private_umask()
    try:
        cfg = config.get()
        config.prepare_home(cfg)
    except config.ConfigError as exc:
        die(f"config error: {exc}", code=2)
    if tighten:
        private_files.tighten(cfg.home)
    if keys:
        try:
            config.secret_key(cfg)
        except private_files.KeyFileError as exc:
            die(str(exc))
    return cfg


def setup_django(migrate: bool = True):
    """Load the config, set up Django, prove the database answers and bring it up to date."""
    cfg = load_config()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "zerg_site.settings")
    import django

    django.setup()
    ensure_database(cfg)
    if migrate:
        from django.core.management import call_command

        call_command("migrate", interactive=False, verbosity=0)
    return cfg


def ensure_database(cfg) -> None:
    from django.db import connection
    from django.db.utils import OperationalError

    try:
        connection.ensure_connection()
    except OperationalError as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else exc.__class__.__name__
        die(f"cannot open the database {cfg.database_label}: {reason}")


def print_json(document) -> None:
    json.dump(document, sys.stdout, indent=2, sort_keys=True)
    sys.stdout.write("\n")
