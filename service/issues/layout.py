"""The journal's email layout (colours, logo, footer), kept in the settings store.

Staff edit it in the admin; campaigns, previews and the web archive read it with
:func:`get_layout`. Only what differs from the defaults matters little: the whole layout is
stored as one JSON object under :data:`LAYOUT_KEY`, and fields missing from an older stored
value fall back to the defaults.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import asdict, fields
from typing import Any

from sqlalchemy.orm import Session

from service.accounts.settings_store import get_setting, set_setting
from service.config import DEFAULT_FROM, Settings
from service.errors import FieldErrors, Message
from service.issues.logo import stored_logo
from service.issues.render_parts import LANGUAGES, Layout
from service.mail.site_settings import public_base_url, stored_site_settings

LAYOUT_KEY = "layout"

# Defaults from the demo issue's contact block: the first user is this association.
DEFAULT_ORG_NAME = "大连市数字贸易协会"
DEFAULT_ADDRESS = "大连市沙河口区数码广场 5 号 大连软件园 11 号楼 1106 室"
DEFAULT_PHONE = "0411-84766033"
DEFAULT_EMAIL = "service@dldta.org.cn"
DEFAULT_WEBSITE = "http://www.dldta.cn"

# Field lengths: they sit on one line of the masthead or footer.
MAX_TEXT_CHARS = 200
MAX_URL_CHARS = 500

# Layout fields the sender and site settings hold, when set there: layout field -> site field.
SITE_FIELDS = {"org_name": "org_name", "address": "postal_address"}
# What staff edit on the layout page (the logo's size comes from an uploaded logo).
FIELD_NAMES: tuple[str, ...] = tuple(f.name for f in fields(Layout) if f.name != "logo_size")
_HEX_COLOR = re.compile(r"#[0-9a-fA-F]{3}(?:[0-9a-fA-F]{3})?")
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f]")
_HTTP_URL = re.compile(r"https?://[^\s<>\"']+", re.I)
_WEBSITE = re.compile(r"(?:https?://|www\.)[^\s<>\"']+", re.I)


# What can be wrong with a layout field: its code and the English sentence.
CONTROL_CHARS = Message.of("layout.control_chars", "Control characters are not allowed.")
TOO_LONG = Message.of("layout.too_long", "This is too long.")
BAD_COLOUR = Message.of(
    "layout.bad_colour", "A colour like #1d4f91 (# and 3 or 6 hexadecimal digits)."
)
BAD_LOGO_URL = Message.of(
    "layout.bad_logo_url", "An image address starting with https:// (or http://)."
)
BAD_EMAIL = Message.of("layout.bad_email", "An email address like service@example.org.")
BAD_WEBSITE = Message.of(
    "layout.bad_website", "A web address starting with http://, https:// or www."
)
BAD_LANGUAGE = Message.of("layout.bad_language", "Choose one of the offered languages.")


class LayoutError(FieldErrors):
    """The submitted layout is invalid; ``errors`` maps each field to what is wrong."""


def default_layout(settings: Settings) -> Layout:
    """The layout used until staff save one: the demo association and TIDINGS_FROM.

    The footer's organisation is TIDINGS_FROM's display name when one was configured (the
    built-in "Tidings" placeholder is not an organisation).
    """
    configured = settings.from_name and not DEFAULT_FROM.startswith(f"{settings.from_name} <")
    return Layout(
        org_name=settings.from_name if configured else DEFAULT_ORG_NAME,
        address=DEFAULT_ADDRESS,
        phone=DEFAULT_PHONE,
        email=DEFAULT_EMAIL,
        website=DEFAULT_WEBSITE,
    )


def get_layout(session: Session, settings: Settings) -> Layout:
    """The journal's layout: the stored one, over the defaults.

    The association's name and address of the site settings, when set, win. A stored
    value that no longer validates (edited by hand, older rules) is ignored field by
    field rather than breaking every render.
    """
    base = asdict(default_layout(settings))
    stored = get_setting(session, LAYOUT_KEY, {}) or {}
    if not isinstance(stored, dict):
        stored = {}
    # The association's name and postal address set with the sender (site settings) are
    # the one place they are kept: they win over an older layout's copy.
    site = stored_site_settings(session)
    named = {field: getattr(site, name) for field, name in SITE_FIELDS.items()}
    merged: dict[str, Any] = {
        **base,
        **{k: v for k, v in stored.items() if k in FIELD_NAMES},
        **{k: v for k, v in named.items() if v},
    }
    logo = stored_logo(session)
    if logo is not None:  # an uploaded logo wins over a logo URL typed in
        merged["logo_url"] = logo.url(public_base_url(settings, site))
        merged["logo_size"] = (logo.width, logo.height)
    try:
        return Layout(**merged)
    except (TypeError, ValueError):
        _, errors = clean_layout_values(merged)
        for name in errors:
            merged[name] = base[name]
        return Layout(**merged)


def clean_layout_values(
    values: Mapping[str, Any],
) -> tuple[dict[str, str], dict[str, Message]]:
    """Normalise submitted layout fields; return ``(clean values, {field: error})``.

    The web layer translates the errors by their code.
    """
    clean: dict[str, str] = {}
    errors: dict[str, Message] = {}
    for name in FIELD_NAMES:
        raw = values.get(name, "")
        value = " ".join(str(raw if raw is not None else "").split())
        clean[name] = value
        limit = MAX_URL_CHARS if name in ("logo_url", "website") else MAX_TEXT_CHARS
        if _CONTROL.search(str(raw or "").replace("\n", " ").replace("\r", " ").replace("\t", " ")):
            errors[name] = CONTROL_CHARS
        elif len(value) > limit:
            errors[name] = TOO_LONG
    for name in ("primary_color", "accent_color"):
        if name not in errors and not _HEX_COLOR.fullmatch(clean[name]):
            errors[name] = BAD_COLOUR
    if (
        "logo_url" not in errors
        and clean["logo_url"]
        and not _HTTP_URL.fullmatch(clean["logo_url"])
    ):
        errors["logo_url"] = BAD_LOGO_URL
    if "email" not in errors and clean["email"] and not _EMAIL.fullmatch(clean["email"]):
        errors["email"] = BAD_EMAIL
    if "website" not in errors and clean["website"] and not _WEBSITE.fullmatch(clean["website"]):
        errors["website"] = BAD_WEBSITE
    if clean["language"] not in LANGUAGES:
        errors["language"] = BAD_LANGUAGE
    return clean, errors


def save_layout(session: Session, values: Mapping[str, Any]) -> Layout:
    """Validate and store the layout; raises :class:`LayoutError` and stores nothing if bad."""
    clean, errors = clean_layout_values(values)
    if errors:
        raise LayoutError(errors)
    data: dict[str, Any] = dict(clean)
    data["logo_url"] = clean["logo_url"] or None
    layout = Layout(**data)
    set_setting(session, LAYOUT_KEY, asdict(layout))
    return layout


def stored_layout_values(session: Session) -> dict[str, Any]:
    """The layout fields as saved on the layout page (without the site settings and the
    uploaded logo that ``get_layout`` puts over them)."""
    stored = get_setting(session, LAYOUT_KEY, {}) or {}
    return {k: v for k, v in stored.items() if k in FIELD_NAMES} if isinstance(stored, dict) else {}
