"""One owner per state machine: only ``service/model/delivery_states.py`` writes a
delivery's status, only ``service/campaigns/service.py`` a campaign's (each through its
table of named moves). The scan reads every module's syntax tree, so a hand-written
``update(Delivery).values(status=...)`` anywhere else fails here."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
# The table whose status is guarded → its ORM class, the Core table names it goes by, and
# the one module allowed to write it.
OWNERS = {
    "deliveries": ({"Delivery", "DELIVERIES"}, "service/model/delivery_states.py"),
    "campaigns": ({"Campaign"}, "service/campaigns/service.py"),
}
# Names of ORM objects whose `.status` attribute belongs to the table.
OBJECT_NAMES = {"deliveries": "deliver", "campaigns": "campaign"}


def _root_call(node: ast.expr) -> ast.Call | None:
    """The first call of a method chain: ``update(X)`` in ``update(X).where(...).values``."""
    while isinstance(node, ast.Attribute | ast.Call):
        inner = node.func if isinstance(node, ast.Call) else node.value
        if isinstance(node, ast.Call) and _starts_chain(inner):
            return node
        node = inner
    return None


def _starts_chain(func: ast.expr) -> bool:
    """``update(...)``, or ``X.update()`` / ``X.__table__.update()`` on a name."""
    if isinstance(func, ast.Name):
        return True
    return (
        isinstance(func, ast.Attribute)
        and func.attr in ("update", "delete")
        and not isinstance(func.value, ast.Call)
    )


def _names_table(node: ast.expr, names: set[str]) -> bool:
    if isinstance(node, ast.Name):
        return node.id in names
    if isinstance(node, ast.Attribute):  # Delivery.__table__
        return _names_table(node.value, names)
    return False


def _writes(root: ast.Call, names: set[str]) -> str | None:
    """Which statement ``root`` starts on the table (``update``/``delete``), if any."""
    func = root.func
    if isinstance(func, ast.Name) and func.id in ("update", "delete") and root.args:
        return func.id if _names_table(root.args[0], names) else None
    if isinstance(func, ast.Attribute) and _names_table(func.value, names):
        return func.attr
    return None


def _sets_status(call: ast.Call) -> bool:
    if any(k.arg == "status" for k in call.keywords):
        return True
    return any(
        isinstance(a, ast.Dict)
        and any(isinstance(k, ast.Constant) and k.value == "status" for k in a.keys)
        for a in call.args
    )


def _hand_sql(node: ast.AST, table: str) -> bool:
    """A string writing the table by hand, without the guard a move supplies."""
    needle = f"update {table}"
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return needle in node.value.lower()
    if isinstance(node, ast.JoinedStr):
        text = "".join(v.value for v in node.values if isinstance(v, ast.Constant)).lower()
        guarded = any(
            isinstance(n, ast.Attribute) and n.attr == "sql_guard" for n in ast.walk(node)
        )
        return needle in text and not guarded
    return False


def _aliases(tree: ast.AST, names: set[str]) -> set[str]:
    """Module names bound to the Core table (``_TABLE = Delivery.__table__``)."""
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign) and any(
            isinstance(n, ast.Attribute) and n.attr == "__table__" and _names_table(n, names)
            for n in ast.walk(node.value)
        ):
            found |= {t.id for t in node.targets if isinstance(t, ast.Name)}
    return found


def violations(source: str, table: str) -> list[str]:
    """Where ``source`` writes the status of ``table`` by hand (line: what)."""
    tree = ast.parse(source)
    names = OWNERS[table][0] | _aliases(tree, OWNERS[table][0])
    # The pieces of an f-string are judged with it, not alone.
    pieces = {id(v) for n in ast.walk(tree) if isinstance(n, ast.JoinedStr) for v in n.values}
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            root = _root_call(node.func.value)
            kind = _writes(root, names) if root is not None else None
            if kind == "delete" and node.func.attr == "where":
                found.append(f"{node.lineno}: delete")
            if kind == "update" and node.func.attr == "values" and _sets_status(node):
                found.append(f"{node.lineno}: update ... status=")
        if isinstance(node, ast.Assign | ast.AugAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for t in targets:
                if (
                    isinstance(t, ast.Attribute)
                    and t.attr == "status"
                    and isinstance(t.value, ast.Name)
                    and OBJECT_NAMES[table] in t.value.id.lower()
                ):
                    found.append(f"{node.lineno}: {t.value.id}.status =")
        if id(node) not in pieces and _hand_sql(node, table):
            found.append(f"{node.lineno}: hand-written UPDATE {table}")
    return sorted(found, key=lambda v: int(v.split(":")[0]))


def _modules() -> list[Path]:
    return sorted([*ROOT.glob("service/**/*.py"), *ROOT.glob("worker/*.py")])


@pytest.mark.parametrize("table", sorted(OWNERS))
def test_only_the_owner_of_a_state_machine_writes_its_status(table: str) -> None:
    owner = OWNERS[table][1]
    wrong = []
    for path in _modules():
        name = str(path.relative_to(ROOT))
        if name != owner:
            wrong += [f"{name}:{v}" for v in violations(path.read_text(encoding="utf-8"), table)]
    assert wrong == []


def test_the_scan_finds_a_status_written_by_hand() -> None:
    source = """
update(Delivery).where(Delivery.id == 1).values(status="sent")
Delivery.__table__.update().values({"status": "sent"})
_TABLE = Delivery.__table__
_TABLE.update().where(_TABLE.c.id == 1).values(status="sent")
session.execute(delete(Delivery).where(Delivery.campaign_id == 2))
delivery.status = "bounced_hard"
text("UPDATE deliveries SET status = 'sent'")
update(Delivery).where(Delivery.id == 1).values(email="x")
"""
    assert [v.split(": ")[1] for v in violations(source, "deliveries")] == [
        "update ... status=",
        "update ... status=",
        "update ... status=",
        "delete",
        "delivery.status =",
        "hand-written UPDATE deliveries",
    ]


def test_the_scan_lets_a_hand_written_statement_take_its_guard_from_a_move() -> None:
    source = (
        """text(f"UPDATE deliveries AS d SET status = v.status WHERE {RECORD.sql_guard('d')}")"""
    )
    assert violations(source, "deliveries") == []
