"""What a new server still lacks (a model, the agent CLIs, a password), with the fix for each.

``zerg serve`` prints the list at start and ``GET /api/setup`` returns it (owner only) for the
dashboard. The checks are ``zerg doctor``'s own (``zerg_site.cli.doctor``), so the three places
never disagree; only the password, which the doctor does not look at, is checked here.
"""

from __future__ import annotations

from django.conf import settings
from ninja import Router

from zerg_site.auth.owner import get_owner
from zerg_site.cli import doctor
from zerg_site.schemas import SetupOut, owner

router = Router(tags=["system"])


def check_password(user) -> doctor.Check:
    if user is not None and user.has_usable_password():
        return doctor.Check("password", doctor.OK, "the owner has a password")
    return doctor.Check(
        "password",
        doctor.WARN,
        "no password is set: you can log in only with a one-time link",
        "run `zerg passwd` on the server (`zerg link` prints a new link meanwhile)",
    )


def checks(cfg, user) -> list[doctor.Check]:
    """The setup checks, all of them, in the order the owner should fix them (``user``: the owner)."""
    return [doctor.check_model(cfg), *doctor.check_clis(cfg), check_password(user)]


def missing(cfg, user) -> list[doctor.Check]:
    """Only the checks that are not ok."""
    return [check for check in checks(cfg, user) if check.status != doctor.OK]


@router.get("", response=owner(SetupOut))
def setup_view(request):
    """What the server still lacks, each with its fix: the list ``zerg serve`` prints at start."""
    found = [vars(check) for check in checks(settings.ZERG, get_owner())]
    missing_items = [item for item in found if item["status"] != doctor.OK]
    return {"complete": not missing_items, "missing": missing_items, "checks": found}
