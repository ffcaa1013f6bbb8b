"""Machine opens by reason: which proxy, prefetch or scanner fetched a campaign's pixel.

The reason of each machine open is stored on its event (``detail.machine_reason``, the
codes of ``service.events.machine_opens``), not in the `Engagement` rollup, so this is
one GROUP BY over the campaign's machine-open events through the
``(campaign_id, type, at)`` index. The counts add up to the report's ``opens_machine``
(every machine open event, repeats included).
"""

from __future__ import annotations

from sqlalchemy import func, select, true
from sqlalchemy.orm import Session

from service.model import Event

# A machine open whose event carries no reason (none is written today; kept so that a
# row from elsewhere is still counted rather than dropped).
UNRECORDED = "unrecorded"


def machine_opens_by_reason(session: Session, campaign_id: int) -> dict[str, int]:
    """Reason code → machine opens of the campaign, most first (ties by code)."""
    reason = Event.detail["machine_reason"].as_string()
    rows = session.execute(
        select(reason, func.count())
        .where(Event.campaign_id == campaign_id, Event.type == "open", Event.machine == true())
        .group_by(reason)
    ).all()
    counts: dict[str, int] = {}
    for code, count in rows:
        key = str(code) if code else UNRECORDED
        counts[key] = counts.get(key, 0) + int(count)
    return dict(sorted(counts.items(), key=lambda item: (-item[1], item[0])))
