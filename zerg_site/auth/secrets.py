"""Random secrets that are shown once and stored only as a SHA-256 digest.

Tokens carry 256 bits of randomness, so a plain fast hash is enough: there is
nothing to brute-force, and a lookup by digest stays one indexed query.
"""

from __future__ import annotations

import hashlib
import secrets


def new_secret(prefix: str = "zerg_") -> str:
    return prefix + secrets.token_urlsafe(32)


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()
