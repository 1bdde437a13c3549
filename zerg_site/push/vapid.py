"""The server's VAPID key pair: made once into ``$ZERG_HOME/vapid_private.pem`` (mode 0600).

Push services tie every subscription to the public key it was made with, so the key must
never change behind the owner's back: it is created with O_EXCL (two processes starting
at once agree on one file) and only read afterwards.
"""

from __future__ import annotations

import base64
import os
from pathlib import Path

from django.conf import settings

FILENAME = "vapid_private.pem"


def key_path() -> Path:
    return Path(settings.ZERG.home) / FILENAME


def _private_key():
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    path = key_path()
    if not path.exists():
        key = ec.generate_private_key(ec.SECP256R1())
        pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass  # another process made it first: use theirs
        else:
            with os.fdopen(fd, "wb") as handle:
                handle.write(pem)
                handle.flush()
                os.fsync(handle.fileno())
    return serialization.load_pem_private_key(path.read_bytes(), password=None)


def ensure() -> Path:
    """The private key file, created if missing."""
    _private_key()
    return key_path()


def public_key() -> str:
    """The ``applicationServerKey`` browsers subscribe with: the uncompressed point, base64url."""
    from cryptography.hazmat.primitives import serialization

    raw = _private_key().public_key().public_bytes(serialization.Encoding.X962,
                                                   serialization.PublicFormat.UncompressedPoint)
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def subject() -> str:
    """The contact push services may use (``ZERG_PUSH_SUBJECT``, a mailto: or https: URL)."""
    return os.environ.get("ZERG_PUSH_SUBJECT") or "mailto:owner@zerg.invalid"
