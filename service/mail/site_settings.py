"""Who sends and where readers land: the sender and site settings staff set in the admin.

From name and address, Reply-To, the association's name and postal address (the mail
footer) and the public base URL, kept in the settings store under :data:`SITE_KEY`. A
``TIDINGS_*`` variable, where set, still wins over the stored value (the admin page says
which one): an operator who pins the sender in the environment keeps it pinned.

Until the From name is set, it follows the association's name, so that once the
association is named no mail to readers says "Tidings".
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy.orm import Session

from service.accounts.settings_store import get_setting, set_setting
from service.config import DEFAULT_FROM, Settings
from service.errors import FieldErrors, Message
from service.mail.addresses import InvalidAddress, normalise
from service.mail.dkim_store import env_pinned as dkim_env_pinned
from service.mail.dkim_store import stored_dkim
from service.mail.from_address import sender_address

SITE_KEY = "site"

MAX_TEXT_CHARS = 200
MAX_URL_CHARS = 500

# Which environment variable pins which field (a field with none is only ever stored).
ENV_VARIABLES: dict[str, str] = {
    "from_name": "TIDINGS_FROM",
    "from_addr": "TIDINGS_FROM",
    "base_url": "TIDINGS_BASE_URL",
}

_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f]")

CONTROL_CHARS = Message.of("site.control_chars", "Control characters are not allowed.")
TOO_LONG = Message.of("site.too_long", "This is too long.")
BAD_ADDRESS = Message.of("site.bad_address", "An email address like news@example.org.")
BAD_BASE_URL = Message.of(
    "site.bad_base_url", "A web address starting with https:// (or http://) and a host name."
)


class SiteSettingsError(FieldErrors):
    """Submitted site settings are invalid; ``errors`` maps each field to what is wrong."""


@dataclass(frozen=True)
class SiteSettings:
    """The stored sender and site fields; an empty string means "not set"."""

    from_name: str = ""
    from_addr: str = ""
    reply_to: str = ""
    org_name: str = ""
    postal_address: str = ""
    base_url: str = ""


FIELD_NAMES: tuple[str, ...] = tuple(f.name for f in fields(SiteSettings))


def env_overrides(settings: Settings) -> dict[str, str]:
    """``{field: variable}`` for the fields a set ``TIDINGS_*`` variable pins."""
    return {
        name: variable
        for name, variable in ENV_VARIABLES.items()
        if str(settings.extra.get(variable, "")).strip()
    }


def stored_site_settings(session: Session) -> SiteSettings:
    """What staff saved (fields that no longer validate read as not set)."""
    stored = get_setting(session, SITE_KEY, {}) or {}
    if not isinstance(stored, dict):
        return SiteSettings()
    clean, errors = clean_site_values(stored)
    return SiteSettings(**{k: ("" if k in errors else v) for k, v in clean.items()})


def public_base_url(settings: Settings, site: SiteSettings) -> str:
    """The base URL readers open links at: TIDINGS_BASE_URL when set, else the stored one,
    else the built-in default."""
    pinned = "base_url" in env_overrides(settings)
    return site.base_url if site.base_url and not pinned else settings.base_url


def effective_settings(
    session: Session, settings: Settings, site: SiteSettings | None = None
) -> Settings:
    """``settings`` with the stored sender, base URL and DKIM key where no variable pins
    them (``site``: the stored site settings, when the caller has read them already).

    The From name falls back to the association's name before the built-in placeholder;
    the bounce domain follows the From address unless TIDINGS_BOUNCE_DOMAIN is set.
    """
    site = stored_site_settings(session) if site is None else site
    pinned = env_overrides(settings)
    changes: dict[str, object] = {}
    if "from_addr" not in pinned:
        if site.from_addr:
            changes["from_addr"] = site.from_addr
            if not str(settings.extra.get("TIDINGS_BOUNCE_DOMAIN", "")).strip():
                changes["bounce_domain"] = site.from_addr.rpartition("@")[2]
        name = site.from_name or site.org_name
        if name:
            changes["from_name"] = name
    dkim = None if dkim_env_pinned(settings) else stored_dkim(session)
    if dkim is not None:
        changes.update(
            dkim_domain=dkim.domain,
            dkim_selector=dkim.selector,
            dkim_key_pem=dkim.private_key_pem,
            dkim_key_file=None,
        )
    if "base_url" not in pinned and site.base_url:
        changes["base_url"] = site.base_url
        changes["base_url_explicit"] = True
    return settings.with_overrides(**changes) if changes else settings


def default_reply_to(session: Session) -> str | None:
    """The stored Reply-To for new campaigns, or None."""
    return stored_site_settings(session).reply_to or None


def is_placeholder_sender(settings: Settings) -> bool:
    """Whether From is still the built-in ``Tidings <newsletter@localhost>``."""
    return f"{settings.from_name} <{settings.from_addr}>" == DEFAULT_FROM


def clean_site_values(
    values: Mapping[str, Any],
) -> tuple[dict[str, str], dict[str, Message]]:
    """Normalise submitted fields; return ``(clean values, {field: error})``."""
    clean: dict[str, str] = {}
    errors: dict[str, Message] = {}
    for name in FIELD_NAMES:
        raw = str(values.get(name) or "")
        value = " ".join(raw.split())
        clean[name] = value
        limit = MAX_URL_CHARS if name == "base_url" else MAX_TEXT_CHARS
        if _CONTROL.search(raw.replace("\n", " ").replace("\r", " ").replace("\t", " ")):
            errors[name] = CONTROL_CHARS
        elif len(value) > limit:
            errors[name] = TOO_LONG
    for name in ("from_addr", "reply_to"):
        if name in errors or not clean[name]:
            continue
        try:
            check = sender_address if name == "from_addr" else _reply_address
            clean[name] = check(clean[name])
        except InvalidAddress:
            errors[name] = BAD_ADDRESS
    if "base_url" not in errors and clean["base_url"]:
        clean["base_url"] = clean["base_url"].rstrip("/")
        parts = urlsplit(clean["base_url"])
        if parts.scheme not in ("http", "https") or not parts.hostname:
            errors["base_url"] = BAD_BASE_URL
    return clean, errors


def _reply_address(value: str) -> str:
    return normalise(value).email_ascii


def save_site_settings(session: Session, values: Mapping[str, Any]) -> SiteSettings:
    """Validate and store; raises :class:`SiteSettingsError` and stores nothing if bad.

    Fields not given keep their stored value.
    """
    current = asdict(stored_site_settings(session))
    clean, errors = clean_site_values(
        {**current, **{k: v for k, v in values.items() if k in FIELD_NAMES}}
    )
    if errors:
        raise SiteSettingsError(errors)
    site = SiteSettings(**clean)
    set_setting(session, SITE_KEY, asdict(site))
    return site
