"""A reader's subscription begins: subscribe and confirm (double opt-in), and the input
checks and consent evidence that the other reader-side flows share (``unsubscribing``,
``preferences``; the lists a stranger may see are in ``public_lists``).

Plain functions over a ``Session`` (the public pages, the REST API, the sending engine and
the staff side all call these). The caller commits. Every action appends a consent row
(STANDARDS §7.2); state changes are idempotent, so a repeated one-click POST or a double
click on a confirmation link does no harm.

Privacy rule for ``subscribe``: the answer never tells a stranger whether an address is
suppressed or already subscribed (the form would otherwise be an oracle), so a refused
subscription looks like a success to the caller's visitor; the reason is kept in the
consent log (as a hash of the address only, so an erased person stays erased).
"""

from __future__ import annotations

import enum
import logging
import re
import secrets
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from service.mail.addresses import email_hash, normalise
from service.model import (
    MailingList,
    Membership,
    MembershipStatus,
    Subscriber,
    SubscriberStatus,
    SubscriberToken,
    TokenPurpose,
    utcnow,
)
from service.subscribers import organisations
from service.subscribers.consent import record_consent
from service.subscribers.public_lists import ListUnavailable
from service.subscribers.suppression import is_suppressed

log = logging.getLogger(__name__)

CONFIRM_TOKEN_HOURS = 72
CONFIRM_TOKEN_BYTES = 16  # secrets.token_urlsafe(16) → 22 characters (column holds 32)
MAX_NAME_LENGTH = 200  # the column width of subscribers.name / organisation
LANGUAGES = ("zh-CN", "en")
DEFAULT_LANGUAGE = "zh-CN"
# Characters that would let a name smuggle header lines into a mail (CR/LF) or that
# several MTAs refuse (NUL); the rest of C0 is dropped silently as noise.
_HEADER_BREAKERS = frozenset("\r\n\0")
_CONTROL = {c: None for c in range(32) if chr(c) not in "\t"}
# What a confirm token (secrets.token_urlsafe) can look like; anything else is refused
# before it reaches the database.
_TOKEN_SHAPE = re.compile(r"[A-Za-z0-9_-]{1,32}\Z")

SOURCES = ("form", "one-click", "preferences", "api", "admin", "undo")


class SubscriptionInputError(ValueError):
    """Input a reader must correct: ``field`` names the form field, ``reason`` is
    ``line_break`` or ``too_long``, the message says why in English."""

    def __init__(self, field: str, reason: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.reason = reason


class SubscribeOutcome(enum.StrEnum):
    """What ``subscribe`` did. Only ``confirmation_needed`` needs a mail to be sent.

    The public answer must depend only on the list's double opt-in flag, never on this
    value (see the module docstring).
    """

    CONFIRMATION_NEEDED = "confirmation_needed"  # unconfirmed; send the confirm mail
    SUBSCRIBED = "subscribed"  # active now (list without double opt-in)
    ALREADY_SUBSCRIBED = "already_subscribed"  # nothing changed
    REFUSED_SUPPRESSED = "refused_suppressed"  # nothing changed; reason in the consent log


@dataclass(frozen=True)
class SubscribeResult:
    """The outcome of ``subscribe``; ``confirm_token`` is set when a mail must go out."""

    outcome: SubscribeOutcome
    list_id: int
    subscriber_id: int | None = None
    confirm_token: str | None = None


class ConfirmOutcome(enum.StrEnum):
    """What happened to a confirmation link."""

    CONFIRMED = "confirmed"
    ALREADY_USED = "already_used"
    EXPIRED = "expired"
    UNKNOWN = "unknown"  # no such token (forged, mangled, or replaced by a newer one)
    REFUSED_SUPPRESSED = "refused_suppressed"
    PENDING = "pending"  # valid and unused: the page offers the confirm button


@dataclass(frozen=True)
class ConfirmResult:
    """The outcome of ``confirm``; ``membership_active`` says whether the list now mails them."""

    outcome: ConfirmOutcome
    subscriber_id: int | None = None
    list_id: int | None = None
    membership_active: bool = False


@dataclass(frozen=True)
class Evidence:
    """Who asked and how: written into every consent row of one action."""

    ip: str | None
    user_agent: str | None
    source: str

    def record(
        self,
        session: Session,
        subscriber_id: int | None,
        list_id: int | None,
        action: str,
        detail: dict[str, object],
    ) -> None:
        record_consent(
            session,
            subscriber_id=subscriber_id,
            list_id=list_id,
            action=action,
            source=self.source,
            ip=self.ip,
            user_agent=self.user_agent,
            detail=detail,
        )


# --------------------------------------------------------------------------- input


def clean_text(value: str | None, field_name: str, max_length: int = MAX_NAME_LENGTH) -> str:
    """Strip and check a free-text field (name, organisation).

    CR, LF and NUL are refused with a clear message (they would let a name inject mail
    headers); other control characters are dropped. HTML is kept as typed: it is escaped
    wherever it is shown.
    """
    text = (value or "").strip()
    if any(c in _HEADER_BREAKERS for c in text):
        raise SubscriptionInputError(
            field_name, "line_break", "line breaks are not allowed in this field"
        )
    text = text.translate(_CONTROL)
    if len(text) > max_length:
        raise SubscriptionInputError(
            field_name, "too_long", f"at most {max_length} characters, please"
        )
    return text


def clean_language(value: str | None) -> str:
    """One of ``LANGUAGES``; ``zh``/``zh-cn``/``en-GB``… are mapped, anything else → default."""
    text = (value or "").strip().lower()
    if text.startswith("en"):
        return "en"
    return DEFAULT_LANGUAGE


# --------------------------------------------------------------------------- subscribe


def subscribe(
    session: Session,
    mailing_list: MailingList,
    email: str,
    name: str | None = "",
    organisation: str | None = "",
    language: str | None = None,
    ip: str | None = None,
    user_agent: str | None = None,
    source: str = "form",
) -> SubscribeResult:
    """Subscribe ``email`` to ``mailing_list`` (creating the subscriber if needed).

    Raises ``InvalidAddress`` for a bad address, ``SubscriptionInputError`` for a bad name
    or organisation, ``ListUnavailable`` for an archived list. An existing subscriber's
    profile is never changed here (a stranger must not be able to rename someone).
    """
    if mailing_list.archived_at is not None:
        raise ListUnavailable(mailing_list.slug)
    address = normalise(email)
    clean_name = clean_text(name, "name")
    clean_org = clean_text(organisation, "organisation")
    lang = clean_language(language)
    evidence = Evidence(ip, user_agent, source)

    subscriber = session.scalar(select(Subscriber).where(Subscriber.email == address.email))
    if is_suppressed(session, address.email):
        evidence.record(
            session,
            subscriber.id if subscriber else None,
            mailing_list.id,
            "subscribe_refused",
            {"reason": "suppressed", "email_hash": email_hash(address.email)},
        )
        log.info("subscribe refused: address suppressed (list %s)", mailing_list.slug)
        return SubscribeResult(SubscribeOutcome.REFUSED_SUPPRESSED, mailing_list.id)

    if subscriber is None:
        subscriber = _create_subscriber(
            session, address.email, address.email_ascii, clean_name, clean_org, lang
        )
    membership = session.get(Membership, (subscriber.id, mailing_list.id))
    if membership is not None and membership.status == MembershipStatus.ACTIVE:
        evidence.record(
            session, subscriber.id, mailing_list.id, "subscribe", {"result": "already_active"}
        )
        return SubscribeResult(SubscribeOutcome.ALREADY_SUBSCRIBED, mailing_list.id, subscriber.id)
    result = _join(session, subscriber, mailing_list, membership, evidence)
    if result.outcome == SubscribeOutcome.SUBSCRIBED:  # a single opt-in list: active now
        organisations.link_confirmed(session, subscriber)
    return result


def _create_subscriber(
    session: Session, email: str, email_ascii: str, name: str, organisation: str, language: str
) -> Subscriber:
    """Insert a subscriber; if a concurrent request inserted the same address, use theirs."""
    subscriber = Subscriber(
        email=email,
        email_ascii=email_ascii,
        name=name,
        organisation=organisation,
        language=language,
        attributes={},
    )
    organisations.link(session, subscriber, create=False)  # made once confirmed
    try:
        with session.begin_nested():
            session.add(subscriber)
    except IntegrityError:
        existing = session.scalar(select(Subscriber).where(Subscriber.email == email))
        if existing is None:
            raise
        return existing
    return subscriber


def _join(
    session: Session,
    subscriber: Subscriber,
    mailing_list: MailingList,
    membership: Membership | None,
    evidence: Evidence,
) -> SubscribeResult:
    """Make the membership unconfirmed (double opt-in) or active, and log the consent."""
    status = MembershipStatus.UNCONFIRMED if mailing_list.double_opt_in else MembershipStatus.ACTIVE
    if membership is None:
        membership = Membership(subscriber_id=subscriber.id, list_id=mailing_list.id)
        session.add(membership)
    membership.status = status
    membership.unsubscribed_at = None
    if status == MembershipStatus.ACTIVE:
        subscriber.status = SubscriberStatus.ENABLED
    session.flush()
    evidence.record(
        session,
        subscriber.id,
        mailing_list.id,
        "subscribe",
        {"double_opt_in": mailing_list.double_opt_in, "status": str(status)},
    )
    if status == MembershipStatus.ACTIVE:
        return SubscribeResult(SubscribeOutcome.SUBSCRIBED, mailing_list.id, subscriber.id)
    token = issue_confirm_token(session, subscriber.id, mailing_list.id)
    return SubscribeResult(
        SubscribeOutcome.CONFIRMATION_NEEDED, mailing_list.id, subscriber.id, token
    )


# --------------------------------------------------------------------------- confirm


def issue_confirm_token(session: Session, subscriber_id: int, list_id: int) -> str:
    """A fresh single-use confirmation token (valid ``CONFIRM_TOKEN_HOURS``).

    There is one confirm row per (subscriber, list); a new token replaces the previous
    one, so only the newest link in the reader's inbox works.
    """
    token = secrets.token_urlsafe(CONFIRM_TOKEN_BYTES)
    now = utcnow()
    row = session.scalar(
        select(SubscriberToken).where(
            SubscriberToken.purpose == TokenPurpose.CONFIRM,
            SubscriberToken.subscriber_id == subscriber_id,
            SubscriberToken.list_id == list_id,
        )
    )
    if row is None:
        row = SubscriberToken(
            purpose=str(TokenPurpose.CONFIRM), subscriber_id=subscriber_id, list_id=list_id
        )
        session.add(row)
    row.token = token
    row.created_at = now
    row.expires_at = now + timedelta(hours=CONFIRM_TOKEN_HOURS)
    row.used_at = None
    session.flush()
    return token


def find_confirm_token(session: Session, token: str) -> SubscriberToken | None:
    """The confirm-token row for ``token`` (None when unknown or malformed)."""
    # Checked before the query: PostgreSQL refuses NUL bytes in text with an error.
    if not _TOKEN_SHAPE.match(token or ""):
        return None
    return session.scalar(
        select(SubscriberToken).where(
            SubscriberToken.token == token, SubscriberToken.purpose == TokenPurpose.CONFIRM
        )
    )


def confirm_state(session: Session, token: str) -> ConfirmResult:
    """What pressing the confirm button would do, changing nothing: ``PENDING`` when the
    token is valid and unused, else why it cannot confirm (used, expired, unknown, the
    address suppressed). The confirm page's GET shows this, so a mail scanner that
    fetches the link confirms nobody."""
    return _token_state(session, token)[0]


def _token_state(session: Session, token: str) -> tuple[ConfirmResult, SubscriberToken | None]:
    row = find_confirm_token(session, token)
    if row is None or row.list_id is None:
        return ConfirmResult(ConfirmOutcome.UNKNOWN), None
    membership = session.get(Membership, (row.subscriber_id, row.list_id))
    active = membership is not None and membership.status == MembershipStatus.ACTIVE
    sub_id, list_id = row.subscriber_id, row.list_id
    if row.used_at is not None:
        outcome = ConfirmOutcome.ALREADY_USED
    elif row.expires_at is not None and row.expires_at <= utcnow():
        outcome = ConfirmOutcome.EXPIRED
    else:
        subscriber = session.get(Subscriber, row.subscriber_id)
        if subscriber is None or is_suppressed(session, subscriber.email):
            return ConfirmResult(ConfirmOutcome.REFUSED_SUPPRESSED, sub_id, list_id), row
        outcome = ConfirmOutcome.PENDING
    return ConfirmResult(outcome, sub_id, list_id, membership_active=active), row


def confirm(
    session: Session,
    token: str,
    ip: str | None = None,
    user_agent: str | None = None,
    source: str = "form",
) -> ConfirmResult:
    """Use a confirmation token: the membership becomes active (once; single use).

    Only the confirm page's POST calls this (the reader pressed the button); a GET of the
    link shows ``confirm_state`` instead.
    """
    state, row = _token_state(session, token)
    if state.outcome != ConfirmOutcome.PENDING or row is None or row.list_id is None:
        return state
    sub_id, list_id, active = row.subscriber_id, row.list_id, state.membership_active
    membership = session.get(Membership, (sub_id, list_id))
    subscriber = session.get(Subscriber, sub_id)
    if subscriber is None:  # erased between the two reads
        return ConfirmResult(ConfirmOutcome.REFUSED_SUPPRESSED, sub_id, list_id)
    now = utcnow()
    # The guarded UPDATE makes the token single-use even with two clicks in flight.
    claimed = session.execute(
        update(SubscriberToken)
        .where(SubscriberToken.id == row.id, SubscriberToken.used_at.is_(None))
        .values(used_at=now)
    )
    if getattr(claimed, "rowcount", 0) != 1:
        return ConfirmResult(ConfirmOutcome.ALREADY_USED, sub_id, list_id, membership_active=active)
    if membership is None:
        membership = Membership(subscriber_id=row.subscriber_id, list_id=row.list_id)
        session.add(membership)
    membership.status = MembershipStatus.ACTIVE
    membership.confirmed_at = now
    membership.unsubscribed_at = None
    subscriber.status = SubscriberStatus.ENABLED
    organisations.link_confirmed(session, subscriber)
    session.flush()
    Evidence(ip, user_agent, source).record(
        session, sub_id, list_id, "confirm", {"token_id": row.id}
    )
    return ConfirmResult(ConfirmOutcome.CONFIRMED, sub_id, list_id, membership_active=True)


def renew_confirmation(session: Session, token: str) -> SubscribeResult | None:
    """A new confirm token for the membership an expired or used ``token`` belonged to.

    None when there is nothing to confirm (unknown token, membership already active or
    left, address suppressed): the caller then shows the matching page and sends nothing.
    """
    row = find_confirm_token(session, token)
    if row is None or row.list_id is None:
        return None
    membership = session.get(Membership, (row.subscriber_id, row.list_id))
    subscriber = session.get(Subscriber, row.subscriber_id)
    if (
        membership is None
        or membership.status != MembershipStatus.UNCONFIRMED
        or subscriber is None
        or is_suppressed(session, subscriber.email)
    ):
        return None
    new_token = issue_confirm_token(session, row.subscriber_id, row.list_id)
    return SubscribeResult(
        SubscribeOutcome.CONFIRMATION_NEEDED, row.list_id, row.subscriber_id, new_token
    )
