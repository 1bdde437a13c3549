"""Test settings: the real settings, with ZERG_HOME in a fresh temporary folder.

pytest-django imports settings before any conftest runs, so this is the one place
that can point ZERG_HOME away from the developer's own ~/.zerg in time.
"""

import atexit
import os
import shutil
import tempfile

os.environ["ZERG_HOME"] = tempfile.mkdtemp(prefix="zerg-test-home-")
atexit.register(shutil.rmtree, os.environ["ZERG_HOME"], True)

from zerg_site.settings import *  # noqa: E402,F403

# Django's documented speed-up for tests: the production hasher costs ~0.3 s a call.
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

# A real file (WAL, fsync) rather than pytest-django's default in-memory SQLite.
if DATABASES["default"]["ENGINE"].endswith("sqlite3"):  # noqa: F405
    DATABASES["default"]["TEST"] = {"NAME": os.path.join(os.environ["ZERG_HOME"], "test.db")}  # noqa: F405
