"""The floor plan of ``service/README.md`` holds: every import goes down a storey, or along
the middle storey to the right; every table lives on the ground floor."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
ENTRANCES = ("cli", "web", "worker")
# The middle floor, left to right: a domain imports only those to its right.
DOMAINS = ("reports", "ops", "campaigns", "events", "subscribers", "issues", "mail", "accounts")
# reports and ops sit side by side at the left end: neither imports the other.
SIDE_BY_SIDE = {frozenset({"reports", "ops"})}
GROUND = {
    "model",
    "db",
    "migrate",
    "config",
    "runtime",
    "errors",
    "tokens",
    "fast_hmac",
    "net",
    "processes",
    "embedded_redis",
    "logging_setup",
    "spreadsheets",
    "containers",
}
# What a ground-floor module may import besides the other small tools.
GROUND_MAY = {"model": {"errors"}, "db": {"model", "config"}, "migrate": {"db", "model"}}


def _room(module: str) -> str | None:
    """The package or ground-floor module a dotted module name belongs to."""
    parts = module.split(".")
    if parts[0] == "worker":
        return "worker"
    if parts[0] != "service" or len(parts) < 2:
        return None
    return parts[1]


def _modules() -> list[tuple[str, Path]]:
    found = []
    for path in sorted([*ROOT.glob("service/**/*.py"), *ROOT.glob("worker/*.py")]):
        dotted = ".".join(path.relative_to(ROOT).with_suffix("").parts)
        found.append((dotted.removesuffix(".__init__"), path))
    return found


def _imports(path: Path) -> list[str]:
    names = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module == "service":
                names += [f"service.{alias.name}" for alias in node.names]
            else:
                names.append(node.module)
        elif isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
    return names


def _allowed(source: str, target: str) -> bool:
    if source == target:
        return True
    if source in ENTRANCES:
        return target not in ENTRANCES or target == "worker"
    if source in DOMAINS:
        if target in GROUND:
            return True
        if target not in DOMAINS or frozenset({source, target}) in SIDE_BY_SIDE:
            return False
        return DOMAINS.index(target) > DOMAINS.index(source)
    if source in GROUND:
        return target in GROUND_MAY.get(source, GROUND - {"model", "db", "migrate"})
    return False


def _edges() -> list[tuple[str, str, str]]:
    edges = []
    for module, path in _modules():
        source = _room(module)
        if source is None or source in ("__init__", "__main__"):
            continue
        for imported in _imports(path):
            target = _room(imported)
            if target is not None and target != source:
                edges.append((source, target, f"{module} imports {imported}"))
    return edges


def test_every_room_of_the_plan_exists() -> None:
    rooms = {_room(m) for m, _ in _modules()}
    missing = (set(DOMAINS) | set(ENTRANCES) | GROUND) - rooms
    assert missing == set()


@pytest.mark.parametrize("floor", ["entrances", "domains", "ground"])
def test_imports_go_down_a_storey_or_right_along_the_middle_one(floor: str) -> None:
    rooms = {"entrances": ENTRANCES, "domains": DOMAINS, "ground": tuple(GROUND)}[floor]
    wrong = [why for s, t, why in _edges() if s in rooms and not _allowed(s, t)]
    assert wrong == []


def test_every_table_lives_on_the_ground_floor() -> None:
    elsewhere = []
    for module, path in _modules():
        if module.startswith("service.model"):
            continue
        source = path.read_text(encoding="utf-8")
        if "__tablename__" in source or "Table(" in source:
            elsewhere.append(module)
    assert elsewhere == []


def test_no_domain_or_ground_floor_module_imports_flask_or_celery() -> None:
    # DESIGN §2: a view, a task, a command and a test call the same domain function.
    frameworks = ("flask", "flask_babel", "flask_login", "werkzeug", "celery", "kombu")
    wrong = [
        f"{module} imports {name}"
        for module, path in _modules()
        if _room(module) in (*DOMAINS, *GROUND)
        for name in _imports(path)
        if name.split(".")[0] in frameworks
    ]
    assert wrong == []
