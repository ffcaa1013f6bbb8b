"""What a reader does with their subscription: subscribe, confirm, unsubscribe, preferences.

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
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from html import escape

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from service.mail.addresses import email_hash, normalise
from service.model import (
    Delivery,
    MailingList,
    Membership,
    MembershipStatus,
    Subscriber,
    SubscriberStatus,
    SubscriberToken,
    Suppression,
    SuppressionReason,
    TokenPurpose,
    utcnow,
)
from service.subscribers import organisations
from service.subscribers.consent import record_consent
from service.subscribers.suppression import is_suppressed, suppress, unsuppress

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
# What a confirm token (secrets.token_urlsafe) and a list slug can look like; anything
# else is refused before it reaches the database.
_TOKEN_SHAPE = re.compile(r"[A-Za-z0-9_-]{1,32}\Z")
_SLUG_SHAPE = re.compile(r"[A-Za-z0-9_.-]{1,64}\Z")

SOURCES = ("form", "one-click", "preferences", "api", "admin", "undo")


class SubscriptionInputError(ValueError):
    """Input a reader must correct: ``field`` names the form field, ``reason`` is
    ``line_break`` or ``too_long``, the message says why in English."""

    def __init__(self, field: str, reason: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.reason = reason


class ListUnavailable(LookupError):
    """The list does not exist or is archived: nobody can subscribe to it."""


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
class UnsubscribeResult:
    """The outcome of ``unsubscribe``; ``changed`` is False for a repeat (idempotent)."""

    found: bool
    changed: bool
    lists: tuple[int, ...] = ()
    # Of ``lists``, those that were active (not waiting for confirmation) until now.
    were_active: tuple[int, ...] = ()


@dataclass(frozen=True)
class PreferencesResult:
    """What ``update_preferences`` changed."""

    added: tuple[int, ...] = ()
    removed: tuple[int, ...] = ()
    refused: tuple[int, ...] = ()  # lists not added because the address is suppressed
    profile_changed: bool = False
    unsubscribed_all: bool = False
    changes: dict[str, object] = field(default_factory=dict)


@dataclass(frozen=True)
class _Evidence:
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


def public_lists(session: Session) -> list[MailingList]:
    """Lists a stranger may subscribe to on the public pages: public and not archived."""
    return list(
        session.scalars(
            select(MailingList)
            .where(MailingList.public.is_(True), MailingList.archived_at.is_(None))
            .order_by(MailingList.id)
        )
    )


def public_list_by_slug(session: Session, slug: str) -> MailingList:
    """The public, open list with this slug, or ``ListUnavailable`` (a private list is
    answered like one that does not exist: its slug tells a stranger nothing)."""
    if not _SLUG_SHAPE.match(slug or ""):
        raise ListUnavailable(slug)
    found = session.scalar(
        select(MailingList).where(
            MailingList.slug == slug,
            MailingList.public.is_(True),
            MailingList.archived_at.is_(None),
        )
    )
    if found is None:
        raise ListUnavailable(slug)
    return found


def preference_lists(session: Session, subscriber_id: int) -> list[MailingList]:
    """The lists a reader's preferences page shows: the public ones (to join or leave)
    and the private ones they are on (to leave), none archived."""
    on = current_list_ids(session, subscriber_id)
    return list(
        session.scalars(
            select(MailingList)
            .where(
                MailingList.archived_at.is_(None),
                MailingList.public.is_(True) | MailingList.id.in_(on),
            )
            .order_by(MailingList.id)
        )
    )


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
    evidence = _Evidence(ip, user_agent, source)

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
    evidence: _Evidence,
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
    _Evidence(ip, user_agent, source).record(
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


# --------------------------------------------------------------------------- unsubscribe


def unsubscribe(
    session: Session,
    subscriber_id: int,
    list_ids: int | Sequence[int] | None,
    source: str,
    ip: str | None = None,
    user_agent: str | None = None,
    everything: bool = False,
    campaign_id: int | None = None,
) -> UnsubscribeResult:
    """Leave the given lists, or everything (``everything=True``: all lists, status
    ``unsubscribed`` and a suppression with reason ``unsubscribed``). Idempotent.

    ``campaign_id`` is the campaign whose link was used, for the report; without it the
    newest campaign that reached this person is credited. Safe to call in the request
    that receives an RFC 8058 one-click POST: it only writes to the database (the caller
    commits before answering).
    """
    wanted = (list_ids,) if isinstance(list_ids, int) else tuple(list_ids or ())
    subscriber = session.get(Subscriber, subscriber_id)
    if subscriber is None or subscriber.status == SubscriberStatus.ERASED:
        # Nothing to do: an erased person is already suppressed by the hash of the address.
        return UnsubscribeResult(found=False, changed=False)
    now = utcnow()
    query = select(Membership).where(
        Membership.subscriber_id == subscriber_id,
        Membership.status != MembershipStatus.UNSUBSCRIBED,
    )
    if not everything:
        query = query.where(Membership.list_id.in_(wanted))
    left = list(session.scalars(query))
    were_active = tuple(sorted(m.list_id for m in left if m.status == MembershipStatus.ACTIVE))
    for membership in left:
        membership.status = MembershipStatus.UNSUBSCRIBED
        membership.unsubscribed_at = now
    changed = bool(left)
    if everything:
        if subscriber.status != SubscriberStatus.UNSUBSCRIBED:
            subscriber.status = SubscriberStatus.UNSUBSCRIBED
            changed = True
        if not is_suppressed(session, subscriber.email):
            suppress(session, subscriber.email, SuppressionReason.UNSUBSCRIBED, source)
            changed = True
    session.flush()
    left_ids = tuple(sorted(m.list_id for m in left))
    detail = {
        "changed": changed,
        "lists": list(left_ids),
        "requested": list(wanted),
        "campaign_id": campaign_id or _latest_campaign(session, subscriber_id),
    }
    # One row per list left, so each list's growth chart counts it; a repeat (nothing
    # left) is still logged, under no list, so it is never counted twice.
    for list_id in left_ids or (None,):
        record_consent(
            session,
            subscriber_id=subscriber_id,
            list_id=list_id,
            action="unsubscribe_all" if everything else "unsubscribe",
            source=source,
            ip=ip,
            user_agent=user_agent,
            detail=detail,
        )
    return UnsubscribeResult(found=True, changed=changed, lists=left_ids, were_active=were_active)


def _latest_campaign(session: Session, subscriber_id: int) -> int | None:
    # A link from before campaign-bound unsubscribe tokens carries no campaign, so the
    # report credits the newest campaign that reached this person: almost always the one
    # whose link or List-Unsubscribe header was used.
    return session.scalar(
        select(Delivery.campaign_id)
        .where(Delivery.subscriber_id == subscriber_id, Delivery.sent_at.is_not(None))
        .order_by(Delivery.sent_at.desc())
        .limit(1)
    )


# --------------------------------------------------------------------------- preferences


def current_list_ids(session: Session, subscriber_id: int) -> set[int]:
    """Lists the subscriber is on (active or waiting for confirmation)."""
    return set(
        session.scalars(
            select(Membership.list_id).where(
                Membership.subscriber_id == subscriber_id,
                Membership.status != MembershipStatus.UNSUBSCRIBED,
            )
        )
    )


def address_confirmed(session: Session, subscriber_id: int) -> bool:
    """Whether the address has shown it wants our mail: a membership that is active or
    was confirmed once (the confirm button, an import, staff). Until then, nothing typed
    into a public form (the name, the organisation) may reach that address's mail."""
    return (
        session.scalar(
            select(Membership.list_id)
            .where(
                Membership.subscriber_id == subscriber_id,
                (Membership.status == MembershipStatus.ACTIVE)
                | Membership.confirmed_at.is_not(None),
            )
            .limit(1)
        )
        is not None
    )


def update_preferences(
    session: Session,
    subscriber_id: int,
    list_ids: Iterable[int],
    name: str | None,
    language: str | None,
    ip: str | None = None,
    user_agent: str | None = None,
    source: str = "preferences",
    unsubscribe_all: bool = False,
) -> PreferencesResult:
    """Apply the preferences page: the lists to be on, name and language.

    Lists are joined directly as active: the preferences link reached the reader's own
    mailbox, which is what double opt-in proves. Public lists can be joined or left; a
    private list can only be left (it is shown only while the reader is on it).
    An address suppressed because its owner unsubscribed from everything is released
    when the owner picks lists again here (their own re-consent); any other suppression
    (bounce, complaint, manual, erasure) refuses new lists. Raises
    ``SubscriptionInputError`` for a bad name, ``LookupError`` for an unknown subscriber.
    """
    subscriber = session.get(Subscriber, subscriber_id)
    if subscriber is None or subscriber.status == SubscriberStatus.ERASED:
        raise LookupError(subscriber_id)
    clean_name = clean_text(name, "name")
    lang = clean_language(language)
    evidence = _Evidence(ip, user_agent, source)
    if unsubscribe_all:
        unsubscribe(session, subscriber_id, None, source, ip, user_agent, everything=True)
        return PreferencesResult(unsubscribed_all=True)

    profile_changed = (subscriber.name, subscriber.language) != (clean_name, lang)
    subscriber.name, subscriber.language = clean_name, lang
    shown = {m.id for m in preference_lists(session, subscriber_id)}
    wanted = set(list_ids) & shown
    current = current_list_ids(session, subscriber_id) & shown
    # Only public lists can be joined here; a private one shown is one the reader is on.
    to_add, to_remove = wanted - current, current - wanted
    refused: set[int] = set()
    if to_add and not _may_rejoin(session, subscriber, evidence):
        refused, to_add = to_add, set()
    _set_memberships(session, subscriber, to_add, to_remove)
    changes: dict[str, object] = {
        "added": sorted(to_add),
        "removed": sorted(to_remove),
        "refused": sorted(refused),
        "language": lang,
        "profile_changed": profile_changed,
    }
    evidence.record(session, subscriber_id, None, "preferences", changes)
    return PreferencesResult(
        added=tuple(sorted(to_add)),
        removed=tuple(sorted(to_remove)),
        refused=tuple(sorted(refused)),
        profile_changed=profile_changed,
        changes=changes,
    )


def _set_memberships(
    session: Session, subscriber: Subscriber, to_add: set[int], to_remove: set[int]
) -> None:
    """Join ``to_add`` as active (the reader chose them) and leave ``to_remove``."""
    now = utcnow()
    for list_id in sorted(to_add):
        joined = session.get(Membership, (subscriber.id, list_id))
        if joined is None:
            joined = Membership(subscriber_id=subscriber.id, list_id=list_id)
            session.add(joined)
        joined.status = MembershipStatus.ACTIVE
        joined.confirmed_at = now
        joined.unsubscribed_at = None
    for list_id in sorted(to_remove):
        left = session.get(Membership, (subscriber.id, list_id))
        if left is not None:
            left.status = MembershipStatus.UNSUBSCRIBED
            left.unsubscribed_at = now
    if to_add:
        subscriber.status = SubscriberStatus.ENABLED
    session.flush()


def _may_rejoin(session: Session, subscriber: Subscriber, evidence: _Evidence) -> bool:
    """Whether the subscriber may be put on lists again; lifts a self-made suppression."""
    row = session.scalar(
        select(Suppression).where(Suppression.email_hash == email_hash(subscriber.email))
    )
    if row is None:
        return True
    if row.reason != SuppressionReason.UNSUBSCRIBED:
        return False
    unsuppress(session, subscriber.email)
    evidence.record(
        session, subscriber.id, None, "resubscribe", {"lifted_suppression": str(row.reason)}
    )
    return True


# --------------------------------------------------------------------------- embedding


def signup_url(base_url: str, mailing_list: MailingList) -> str:
    """The public sign-up page of ``mailing_list`` (where its embedded form posts, too)."""
    return f"{base_url.rstrip('/')}/subscribe/{mailing_list.slug}"


def embed_snippet(base_url: str, mailing_list: MailingList) -> str:
    """A plain HTML ``<form>`` that other sites can paste to subscribe to ``mailing_list``.

    It posts to ``{base_url}/subscribe/<slug>`` (no JavaScript, no CSRF token: the public
    subscribe endpoint accepts cross-site posts; double opt-in and rate limits guard it).
    The ``website`` field is the honeypot and is hidden from people.
    """
    action = escape(signup_url(base_url, mailing_list))
    title = escape(mailing_list.name)
    return (
        f'<form method="post" action="{action}" accept-charset="utf-8">\n'
        f"  <p><strong>{title}</strong></p>\n"
        '  <p><label>Email / 邮箱<br><input type="email" name="email" required '
        'autocomplete="email"></label></p>\n'
        '  <p><label>Name / 姓名<br><input type="text" name="name" maxlength="200" '
        'autocomplete="name"></label></p>\n'
        '  <p><label>Organisation / 单位<br><input type="text" name="organisation" '
        'maxlength="200" autocomplete="organization"></label></p>\n'
        '  <p style="position:absolute;left:-10000px" aria-hidden="true">'
        '<input type="text" name="website" tabindex="-1" autocomplete="off"></p>\n'
        '  <p><button type="submit">Subscribe / 订阅</button></p>\n'
        "</form>\n"
    )
