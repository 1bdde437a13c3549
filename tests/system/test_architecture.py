"""Apps depend one way: an import that points up the layers (a back-edge) fails here.

The layers, lowest first (README, "Architecture"):

    core        zerg_site's shared parts: events, auth, push, config, models, safe JSON, the LLM
                clients (zerg_site/llm), gitcheck, heartbeat... and frontend (the SPA's view)
    timeline    the archive, its storage, usage, pricing and search
    agents_ingest   the wire format, the parsers, the Shipper; writes through timeline.storage
    commis      jobs, backends, Sauron
    forum       boards, threads, posts; follows commis through its signals
    oikos       the coordinator: reads the Forum, spawns commis
    spend       what every agent costs: reads the sessions, turns and jobs of the apps below
    site        zerg_site's wiring: settings, urls, asgi, the API router, the CLI, management
                commands, and the parts that read every app (attention, push receivers)

A module may import its own layer and the ones below it. Every import counts, the ones inside
functions and ``if TYPE_CHECKING:`` blocks too: a lazy import is still a dependency.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
APPS = ("zerg_site", "frontend", "timeline", "agents_ingest", "commis", "forum", "oikos", "spend")
LAYERS = ("core", "timeline", "agents_ingest", "commis", "forum", "oikos", "spend", "site")

# zerg_site modules (and packages) that wire the site together: they may import every app.
SITE = (
    "zerg_site.apps",
    "zerg_site.settings",
    "zerg_site.urls",
    "zerg_site.asgi",
    "zerg_site.api",
    "zerg_site.system_api",
    "zerg_site.setup_api",
    "zerg_site.dashboard",
    "zerg_site.cli",
    "zerg_site.__main__",
    "zerg_site.management",
    "zerg_site.attention",
    "zerg_site.push.receivers",
    "zerg_site.bodylimit",
    "zerg_site.tasks",
)


def layer_of(module: str) -> str | None:
    """The layer of a dotted module name, or None for what is not Zerg's (Django, the stdlib...)."""
    top = module.split(".")[0]
    if top not in APPS:
        return None
    if top == "zerg_site":
        return "site" if any(module == s or module.startswith(s + ".") for s in SITE) else "core"
    return "core" if top == "frontend" else top


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(source: str, module: str, is_package: bool = False) -> list[tuple[int, str]]:
    """(line, imported module) of every import in ``source``, relative ones resolved; for
    ``from x import y`` both ``x`` and ``x.y`` (y may be a module)."""
    found = []
    package = module.split(".") if is_package else module.split(".")[:-1]
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.extend((node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package[: len(package) - (node.level - 1)]
                base = ".".join(anchor + ([node.module] if node.module else []))
            found.append((node.lineno, base))
            found.extend((node.lineno, f"{base}.{alias.name}") for alias in node.names if alias.name != "*")
    return found


def back_edges(source: str, module: str, is_package: bool = False) -> list[str]:
    """One line per import statement that reaches above ``module``'s layer."""
    own = layer_of(module)
    worst: dict[int, tuple[int, str, str]] = {}
    for line, target in imports(source, module, is_package):
        theirs = layer_of(target)
        if own and theirs and LAYERS.index(theirs) > LAYERS.index(own):
            worst[line] = min(worst.get(line, (99, "", "")), (len(target), target, theirs))
    return [
        f"{module}:{line} ({own}) imports {target} ({theirs})" for line, (_, target, theirs) in sorted(worst.items())
    ]


def private_imports(source: str, module: str, is_package: bool = False) -> list[str]:
    """Imports of another app's private names (``from commis.x import _helper``): a helper another app
    needs is made public, or moved to where both may import it."""
    own = module.split(".")[0]
    return [
        f"{module}:{line} imports {target}"
        for line, target in imports(source, module, is_package)
        if target.split(".")[0] in APPS
        and target.split(".")[0] != own
        and target.rsplit(".", 1)[-1].startswith("_")
        and not target.rsplit(".", 1)[-1].startswith("__")
    ]


def app_modules():
    for app in APPS:
        for path in sorted((ROOT / app).rglob("*.py")):
            yield path, module_name(path)


# Back-edges known and scheduled to go, module -> the import above it, named so that they cannot grow
# unseen. None left: "continue a shipped session as a commis job" moved to commis/continuation_api.py.
PENDING: dict[str, str] = {}


def test_every_import_points_down_the_layers():
    bad, pending = [], set()
    for path, module in app_modules():
        for edge in back_edges(path.read_text(encoding="utf-8"), module, path.name == "__init__.py"):
            target = edge.split(" imports ")[1].split(" ")[0]
            if PENDING.get(module) == target:
                pending.add(module)
            else:
                bad.append(edge)
    assert bad == [], "imports against the allowed direction (README, Architecture):\n" + "\n".join(bad)
    assert pending == set(PENDING), "a pending back-edge is gone: take it off PENDING"


def test_no_app_imports_another_apps_private_names():
    bad = []
    for path, module in app_modules():
        bad += private_imports(path.read_text(encoding="utf-8"), module, path.name == "__init__.py")
    assert bad == []


def test_it_refuses_another_apps_private_helper():
    assert private_imports("from commis.agent.graph import _add_usage, tool_calls\n", "oikos.graph") == [
        "oikos.graph:1 imports commis.agent.graph._add_usage"
    ]
    assert private_imports("from oikos.graph import _own_helper\n", "oikos.turns") == []


def test_the_check_reads_every_app():
    modules = [module for _, module in app_modules()]
    for expected in (
        "timeline.storage.writer",
        "agents_ingest.ingest",
        "commis.jobs",
        "forum.services",
        "oikos.turns",
        "zerg_site.events",
        "zerg_site.cli.serve",
    ):
        assert expected in modules
    assert {layer_of(m) for m in modules} == set(LAYERS)


@pytest.mark.parametrize(
    "module, source, edge",
    [
        (
            "timeline.export",
            "from commis.backends.sessionfiles import COMMIS_DEVICE",
            "timeline.export:1 (timeline) imports commis.backends.sessionfiles (commis)",
        ),
        (
            "timeline.pricing",
            "def price():\n    import agents_ingest.parsers.base\n",
            "timeline.pricing:2 (timeline) imports agents_ingest.parsers.base (agents_ingest)",
        ),
        (
            "commis.agent.tools",
            "def tool():\n    from forum import services\n",
            "commis.agent.tools:2 (commis) imports forum (forum)",
        ),
        (
            "zerg_site.events",
            "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from oikos.models import Turn\n",
            "zerg_site.events:3 (core) imports oikos.models (oikos)",
        ),
        (
            "timeline.storage.rows",
            "from ...commis import jobs",
            "timeline.storage.rows:1 (timeline) imports commis (commis)",
        ),
    ],
)
def test_it_refuses_an_import_that_points_up_even_a_lazy_one(module, source, edge):
    assert edge in back_edges(source, module)


def test_it_lets_the_site_wiring_and_upper_apps_import_downwards():
    assert back_edges("from oikos.api import router\nfrom commis import jobs\n", "zerg_site.api") == []
    assert (
        back_edges("from timeline.storage import store\nfrom zerg_site.events import publish\n", "agents_ingest.ingest")
        == []
    )
    assert back_edges("from forum import services\n", "oikos.tools") == []
