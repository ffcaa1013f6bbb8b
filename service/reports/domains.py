"""A campaign's delivery by recipient domain and mailbox provider (issue 17, item 4).

Definitions (the report page says them too), per recipient domain:

- ``recipients``: the campaign's deliveries to addresses at the domain;
- ``sent``, ``bounced_hard``, ``bounced_soft``, ``complaints``: as the report's own
  figures (``queries``), so the domains add up to them;
- ``deferred``: deliveries the relay answered with a temporary refusal (4xx) at least
  once: those waiting in ``retry_due`` after an attempt, and those with more than one
  attempt (each attempt but the last was a 4xx: sent after a retry, or failed when the
  attempts ran out). A row held back by our own throttle or a relay outage costs no
  attempt, so it is not counted;
- ``opens``: recipients with a likely-human open (machine opens apart, as everywhere);
- ``provider``: ``service.mail.providers`` (a code, the domain itself for a company on
  its own mail server, ``unknown`` when no DNS could say).

Two grouped statements (deliveries by domain and status; human opens by domain), then
the providers of the domains found, cached. The domain is cut from the stored address in
SQL, so the grouping is the database's; Python only merges spellings that ``domain_key``
folds together.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import and_, case, false, func, or_, select
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from service.db import is_postgresql
from service.mail.dns_records import MxResolver
from service.mail.providers import PROVIDERS, UNKNOWN, default_resolver, domain_key, providers
from service.model import Delivery, DeliveryStatus, Engagement
from service.model.delivery_states import LEFT as LEFT_STATUSES

COUNTS = ("recipients", "sent", "deferred", "bounced_hard", "bounced_soft", "complaints", "opens")
STATUS_COUNTS = {
    DeliveryStatus.BOUNCED_HARD.value: "bounced_hard",
    DeliveryStatus.BOUNCED_SOFT.value: "bounced_soft",
    DeliveryStatus.COMPLAINED.value: "complaints",
}
# The report page: this many provider groups, each with this many domains; the rest of
# each folded into one line, so thousands of company domains stay readable.
TOP_GROUPS = 12
TOP_DOMAINS = 8
EXPORT_COLUMNS = ("domain", "provider", *COUNTS)


def _domain_of(session: Session) -> ColumnElement[str]:
    """The domain part of ``Delivery.email`` in SQL (stored addresses have one ``@``)."""
    if is_postgresql(session):
        return func.split_part(Delivery.email, "@", 2)
    return func.substr(Delivery.email, func.instr(Delivery.email, "@") + 1)


def _deferred() -> ColumnElement[bool]:
    """A delivery the relay refused for now at least once (the module's definition)."""
    return or_(
        and_(Delivery.status == DeliveryStatus.RETRY_DUE.value, Delivery.attempts >= 1),
        Delivery.attempts >= 2,
    )


def _counts(session: Session, campaign_id: int) -> dict[str, dict[str, int]]:
    """Per folded domain: every count of ``COUNTS``."""
    domain = _domain_of(session).label("domain")
    out: dict[str, dict[str, int]] = defaultdict(lambda: dict.fromkeys(COUNTS, 0))
    rows = session.execute(
        select(
            domain,
            Delivery.status,
            func.count(),
            func.sum(case((_deferred(), 1), else_=0)),
        )
        .where(Delivery.campaign_id == campaign_id)
        .group_by(domain, Delivery.status)
    )
    for name, status, count, deferred in rows:
        row = out[domain_key(name or "")]
        row["recipients"] += count
        row["deferred"] += int(deferred or 0)
        if status in LEFT_STATUSES:
            row["sent"] += count
        if status in STATUS_COUNTS:
            row[STATUS_COUNTS[status]] += count
    opened = _domain_of(session).label("domain")
    rows = session.execute(
        select(opened, func.count())
        .select_from(Engagement)
        .join(Delivery, Delivery.id == Engagement.delivery_id)
        .where(
            Engagement.campaign_id == campaign_id,
            Engagement.type == "open",
            Engagement.machine == false(),
            Engagement.link_position == -1,
        )
        .group_by(opened)
    )
    for name, count in rows:
        out[domain_key(name or "")]["opens"] += count
    return out


def domain_table(
    session: Session,
    campaign_id: int,
    resolve: MxResolver = default_resolver,
    budget: float | None = None,
) -> list[dict[str, Any]]:
    """The ``domains`` key of the campaign report: one row per recipient domain
    (``domain``, ``provider`` and ``COUNTS``), most recipients first."""
    counts = _counts(session, campaign_id)
    order = sorted(counts, key=lambda d: (-counts[d]["recipients"], d))
    kwargs = {} if budget is None else {"budget": budget}
    named = providers(session, order, resolve, **kwargs)
    return [{"domain": d, "provider": named.get(d, UNKNOWN), **counts[d]} for d in order]


def export_rows(rows: list[dict[str, Any]]) -> Iterator[tuple[Any, ...]]:
    """The XLSX sheet (``EXPORT_COLUMNS``): every domain, unfolded."""
    yield EXPORT_COLUMNS
    for row in rows:
        yield tuple(row[c] for c in EXPORT_COLUMNS)


# --------------------------------------------------------------------------- the page


def _add(into: dict[str, int], row: dict[str, Any]) -> None:
    for key in COUNTS:
        into[key] += row[key]


def _zero() -> dict[str, int]:
    return dict.fromkeys(COUNTS, 0)


@dataclass
class ProviderGroup:
    """One line of "By mailbox provider": a known provider with its domains, or one
    company domain on its own (``provider`` is then the domain or ``unknown``)."""

    key: str
    provider: str
    totals: dict[str, int] = field(default_factory=_zero)
    domains: list[dict[str, Any]] = field(default_factory=list)

    @property
    def known(self) -> bool:
        """A provider of the table (else the group is one company domain)."""
        return self.provider in PROVIDERS

    def shown(self, limit: int = TOP_DOMAINS) -> list[dict[str, Any]]:
        """Its biggest domains."""
        return self.domains[:limit]

    def folded(self, limit: int = TOP_DOMAINS) -> tuple[int, dict[str, int]]:
        """How many of its domains are folded, and their totals."""
        totals = _zero()
        for row in self.domains[limit:]:
            _add(totals, row)
        return max(0, len(self.domains) - limit), totals


@dataclass
class ProviderGroups:
    """The report page's table: the biggest groups, the rest folded as "others"."""

    groups: list[ProviderGroup]
    others_domains: int
    others: dict[str, int]
    totals: dict[str, int]


def by_provider(rows: list[dict[str, Any]], top: int = TOP_GROUPS) -> ProviderGroups:
    """``domain_table`` rows grouped by known provider (a company domain on its own
    server, or of unknown provider, is a group by its own name), most recipients first."""
    groups: dict[str, ProviderGroup] = {}
    totals = _zero()
    for row in rows:
        key = row["provider"] if row["provider"] in PROVIDERS else row["domain"]
        group = groups.setdefault(key, ProviderGroup(key, row["provider"]))
        group.domains.append(row)
        _add(group.totals, row)
        _add(totals, row)
    ordered = sorted(groups.values(), key=lambda g: (-g.totals["recipients"], g.key))
    others = _zero()
    for group in ordered[top:]:
        _add(others, group.totals)
    folded = sum(len(g.domains) for g in ordered[top:])
    return ProviderGroups(ordered[:top], folded, others, totals)
