"""How stored values read in the interface: every status of the models and every content
mode of a campaign, translatable."""

from __future__ import annotations

from collections.abc import Iterable

from flask_babel import gettext
from flask_babel import lazy_gettext as _l
from markupsafe import Markup, escape

# One table for campaign, delivery, membership, subscriber and import-job states, so a
# template never shows a raw value and every label is found by the string extractor.
STATUS_LABELS = {
    "draft": _l("draft"),
    "scheduled": _l("scheduled"),
    "running": _l("sending"),
    "paused": _l("paused"),
    "finished": _l("finished"),
    "cancelled": _l("cancelled"),
    "pending": _l("pending"),
    "queued": _l("queued"),
    "sending": _l("being sent"),
    "sent": _l("sent"),
    "retry_due": _l("will retry"),
    "failed": _l("failed"),
    "unknown": _l("unknown"),
    "skipped": _l("skipped"),
    "bounced_soft": _l("soft bounce"),
    "bounced_hard": _l("hard bounce"),
    "complained": _l("complaint"),
    "unconfirmed": _l("unconfirmed"),
    "active": _l("active"),
    "unsubscribed": _l("unsubscribed"),
    # A contact's state on a list on an organisation's page (subscribers.organisations).
    "subscribed": _l("subscribed"),
    "bounced": _l("bounced"),
    "suppressed": _l("suppressed"),
    "enabled": _l("enabled"),
    # A contact's state in a campaign's coverage (reports.coverage.CONTACT_STATES).
    "not_on_lists": _l("not on the lists sent to"),
    "not_sent": _l("not among the recipients"),
    "erased": _l("erased"),
    "mapping": _l("waiting for column mapping"),
    "done": _l("done"),
}


# A campaign's content mode (service.issues.render.MODES), as the preview and campaign
# pages name it.
CONTENT_MODE_LABELS = {
    "auto": _l("Automatic"),
    "full": _l("Full articles"),
    "excerpt": _l("Excerpts"),
}


# Why a campaign did not reach an organisation (service.reports.coverage.REASONS).
COVERAGE_REASON_LABELS = {
    "all_bounced": _l("every contact bounced"),
    "all_unsubscribed": _l("every contact unsubscribed"),
    "all_suppressed": _l("every contact is suppressed"),
    "not_on_lists": _l("no contact on the lists sent to"),
    "not_sent": _l("sent to no contact (failed, waiting, unconfirmed or added later)"),
    "mixed": _l("a mix of these"),
}


# Why an open was counted as a machine's (service.events.machine_opens.REASONS, the
# codes stored before the table, and service.reports.opens.UNRECORDED).
MACHINE_REASON_LABELS = {
    "apple-mpp": _l("Apple Mail Privacy Protection (fetched whether read or not)"),
    "prefetch:gmail": _l("Gmail prefetch (before the message was shown)"),
    "image-proxy:gmail": _l("Gmail image proxy (on opening; repeat opens are cached)"),
    "image-proxy:yahoo": _l("Yahoo Mail image proxy"),
    "scanner": _l("security scanner or automated client"),
    "seconds-after-sending": _l("seconds after sending"),
    "image-proxy": _l("image proxy (recorded before proxies were told apart)"),
    "scanner-agent": _l("scanner (recorded before proxies were told apart)"),
    "unrecorded": _l("reason not recorded"),
}


# Mailbox providers (service.mail.providers.PROVIDERS: the same codes).
PROVIDER_LABELS = {
    "tencent": _l("Tencent (QQ Mail)"),
    "netease": _l("NetEase"),
    "sina": _l("Sina"),
    "sohu": _l("Sohu"),
    "china_mobile": _l("China Mobile 139"),
    "china_telecom": _l("China Telecom 189"),
    "aliyun": _l("Aliyun Mail"),
    "tom": _l("TOM"),
    "gmail": _l("Gmail"),
    "outlook": _l("Outlook"),
    "yahoo": _l("Yahoo"),
    "icloud": _l("iCloud"),
    "tencent_exmail": _l("Tencent Exmail"),
    "netease_qiye": _l("NetEase Qiye"),
    "alibaba_mail": _l("Alibaba Mail"),
    "google_workspace": _l("Google Workspace"),
    "microsoft_365": _l("Microsoft 365"),
    "zoho": _l("Zoho Mail"),
    # A company domain whose MX no DNS answered for (yet).
    "unknown": _l("provider not known (no DNS answer)"),
}


def provider_label(value: object) -> str:
    """The translated name of a mailbox provider code; a company domain on its own mail
    server (its provider is the domain) reads as "own mail server"."""
    key = str(value or "")
    label = PROVIDER_LABELS.get(key)
    return str(label) if label is not None else gettext("own mail server")


def coverage_reason_label(value: object) -> str:
    """The translated label of an unreached organisation's reason code."""
    key = str(value or "")
    label = COVERAGE_REASON_LABELS.get(key)
    return str(label) if label is not None else key


def machine_reason_label(value: object) -> str:
    """The translated label of a machine open's reason code (the code if it has none)."""
    key = str(value or "")
    label = MACHINE_REASON_LABELS.get(key)
    return str(label) if label is not None else key


def status_label(value: object) -> str:
    """The translated label of a status value (the value itself if it has none)."""
    key = str(getattr(value, "value", value) or "")
    label = STATUS_LABELS.get(key)
    return str(label) if label is not None else key


def content_mode_label(value: object) -> str:
    """The translated name of a content mode (the value itself if it has none)."""
    key = str(value or "")
    label = CONTENT_MODE_LABELS.get(key)
    return str(label) if label is not None else key


def parenthesised(text: object) -> Markup:
    """``text`` in the brackets of the reader's language: 「（可选）」 in Chinese, "(optional)"
    in English. A template that types ASCII brackets around a translated word puts
    half-width ones into Chinese text (issue 16, item 8)."""
    return Markup(escape(gettext("(%(text)s)"))) % {"text": text}


def enumerated(names: Iterable[object]) -> str:
    """``names`` listed with the reader's separator: 「会员单位、理事单位」 in Chinese, "members,
    council" in English (a template's ``join(', ')`` put half-width commas into Chinese)."""
    return gettext(", ").join(str(n) for n in names)
