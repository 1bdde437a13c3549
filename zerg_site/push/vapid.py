"""The server's VAPID key pair: made once into ``$ZERG_HOME/vapid_private.pem`` (mode 0600).

Push services tie every subscription to the public key it was made with, so the key must
never change behind the owner's back: it is created whole or not at all, only if absent
(two processes starting at once agree on one file; :mod:`zerg_site.private_files`), and only
read afterwards. A key file that is empty or not a key is never replaced silently: it raises
:class:`KeyFileError` saying what to do (`zerg serve` refuses to start on it, the API answers 503).
"""

from __future__ import annotations

import base64
import os
from pathlib import Path

from django.conf import settings

from zerg_site import private_files
from zerg_site.private_files import KeyFileError

FILENAME = "vapid_private.pem"


def key_path() -> Path:
    return Path(settings.ZERG.home) / FILENAME


def _private_key():
    # lazy: cryptography's Rust extension, ~6-10 MB RSS (measured alone): loaded on the first Web Push use only
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    path = key_path()
    pem = private_files.read_key(path)
    if pem is None:
        key = ec.generate_private_key(ec.SECP256R1())
        pem = key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            private_files.write_new(path, pem)  # False: another process made it first, use theirs
        except OSError as exc:
            raise KeyFileError(private_files.cannot_write(path, exc)) from None
        pem = private_files.read_key(path)
    try:
        key = serialization.load_pem_private_key(pem or b"", password=None)
    except (ValueError, TypeError):
        key = None
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise KeyFileError(private_files.unusable(path, "is not a P-256 private key in PEM"))
    return key


def check(path: Path | None = None) -> bool:
    """Whether the key file exists; :class:`KeyFileError` if it is empty, unreadable or not PEM.

    For `zerg serve` at start and `zerg doctor`, without loading ``cryptography`` (~6 MB resident).
    """
    path = path or key_path()
    pem = private_files.read_key(path)
    if pem is not None and not pem.lstrip().startswith(b"-----BEGIN "):
        raise KeyFileError(private_files.unusable(path, "is not a PEM key"))
    return pem is not None


def ensure() -> Path:
    """The private key file, created if missing."""
    _private_key()
    return key_path()


def public_key() -> str:
    """The ``applicationServerKey`` browsers subscribe with: the uncompressed point, base64url."""
    from cryptography.hazmat.primitives import serialization  # lazy: as in _private_key()

    raw = (
        _private_key()
        .public_key()
        .public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
    )
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def subject() -> str:
    """The contact push services may use (``ZERG_PUSH_SUBJECT``, a mailto: or https: URL)."""
    return os.environ.get("ZERG_PUSH_SUBJECT") or "mailto:owner@zerg.invalid"
