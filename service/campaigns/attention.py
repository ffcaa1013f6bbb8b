"""What a campaign needs from a person, derived from its ledger: never a status of its own.

A campaign whose rows are all settled is ``finished`` (DESIGN §4), also when some of them
are ``unknown`` (a worker died while sending them: each may or may not have left). That
is not a plain finish, so everything that shows a campaign — its page, ``campaign show
--json``, the report — also shows ``needs_attention``: how many are unknown and what a
person can do about them. It is derived from the counts rather than stored as a state,
so the state machine stays the one DESIGN §4 draws, and the flag goes away by itself once
the rows are resent (or a bounce proves they left).

JSON shape (``campaign show --json``, ``campaign report --json``, the API)::

    "needs_attention": null                                   # nothing to decide
    "needs_attention": {"unknown": 80, "what_to_do": "..."}   # English, as status_reason
"""

from __future__ import annotations

from typing import Any

from service.campaigns.campaign_states import RESEND_UNKNOWN
from service.errors import Message


def needs_attention(status: str, unknown: int) -> Message | None:
    """What to tell a person about a campaign in ``status`` with ``unknown`` rows (None
    when there are none)."""
    if unknown <= 0:
        return None
    if RESEND_UNKNOWN.allows(status):
        return Message.of(
            "campaign.attention_unknown",
            "%(count)s recipients may or may not have received it: the worker sending to "
            'them stopped. Check the relay\'s log for them, or choose "resend unknown": it '
            "sends the same message with the same Message-ID, which most mailbox providers "
            "drop when they already have it",
            count=unknown,
        )
    return Message.of(
        "campaign.attention_unknown_closed",
        "%(count)s recipients may or may not have received it: the worker sending to them "
        "stopped. The campaign is %(status)s, so they cannot be sent again; check the "
        "relay's log for them",
        count=unknown,
        status=status,
    )


def attention_json(status: str, unknown: int) -> dict[str, Any] | None:
    """``needs_attention`` as the JSON of DESIGN §7 carries it (see the module docstring)."""
    message = needs_attention(status, unknown)
    if message is None:
        return None
    return {"unknown": unknown, "what_to_do": message.text}
