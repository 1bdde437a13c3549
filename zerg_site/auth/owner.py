"""The single owner account."""

from __future__ import annotations

from django.contrib.auth import get_user_model

OWNER_USERNAME = "owner"


def get_owner():
    """The owner: the first active superuser, or None before the first start."""
    return get_user_model().objects.filter(is_superuser=True, is_active=True).order_by("id").first()


def ensure_owner():
    """Create the owner on first start, with no usable password until ``zerg passwd``."""
    user = get_owner()
    if user is None:
        user = get_user_model().objects.create_superuser(OWNER_USERNAME, email="", password=None)
    return user
