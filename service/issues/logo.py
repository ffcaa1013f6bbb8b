"""The association's logo, uploaded in the admin and served by the service at ``/logo``.

A PNG or JPEG of at most :data:`MAX_LOGO_BYTES`, kept in the settings store (base64
under :data:`LOGO_KEY`, so every web process on every machine serves the same one) with
its pixel size read from the file's own header (``service.issues.image_files``). The
mail header shows it with that width and height scaled to the masthead, so a mail client
lays the header out before the image loads (and a reader who blocks images sees a box of
the right size).
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass

from sqlalchemy.orm import Session

from service.accounts.settings_store import get_setting, set_setting
from service.errors import DomainError, Message
from service.issues.image_files import JPEG, PNG, ImageError, check_image
from service.issues.image_files import image_size as image_size  # re-exported

LOGO_KEY = "logo"
LOGO_PATH = "/logo"
# A masthead logo needs no more; a mail client downloads it for every reader.
MAX_LOGO_BYTES = 512 * 1024
MAX_SIDE_PX = 4000


class LogoError(DomainError, ValueError):
    """The upload is not a logo we can use; the message says why."""


@dataclass(frozen=True)
class Logo:
    """A stored logo: its bytes, MIME type and size in pixels."""

    data: bytes
    mime: str
    width: int
    height: int

    @property
    def version(self) -> str:
        """A short hash of the bytes: the URL changes with the image, so caches refresh."""
        return hashlib.sha256(self.data).hexdigest()[:12]

    def url(self, base_url: str) -> str:
        """The logo's public address (stable path, the version as a cache key)."""
        return f"{base_url.rstrip('/')}{LOGO_PATH}?v={self.version}"


# Mail clients show PNG and JPEG everywhere; the masthead takes nothing else.
LOGO_TYPES = (PNG, JPEG)
# The logo's wording of the checks of ``image_files`` (same codes under ``logo.``).
_LOGO_MESSAGES = {
    "image.too_large": Message.of(
        "logo.too_large", "the logo is %(size)s KB; at most %(limit)s KB"
    ),
    "image.not_an_image": Message.of("logo.not_an_image", "the file is not a PNG or JPEG image"),
    "image.wrong_type": Message.of("logo.not_an_image", "the file is not a PNG or JPEG image"),
    "image.bad_dimensions": Message.of(
        "logo.bad_dimensions",
        "the logo is %(width)s × %(height)s pixels; each side must be 1 to %(limit)s",
    ),
}


def check_logo(data: bytes) -> Logo:
    """The upload as a ``Logo``: a PNG or JPEG within the size limits, or ``LogoError``."""
    try:
        found = check_image(data, max_bytes=MAX_LOGO_BYTES, max_side=MAX_SIDE_PX, types=LOGO_TYPES)
    except ImageError as exc:
        wording = _LOGO_MESSAGES[exc.detail.code]
        # The wording holds the unfilled template (made with no parameters).
        raise LogoError(wording.code, wording.text, **exc.detail.params) from exc
    return Logo(found.data, found.mime, found.width, found.height)


def save_logo(session: Session, data: bytes) -> Logo:
    """Check and store an uploaded logo (replacing the earlier one)."""
    logo = check_logo(data)
    set_setting(
        session,
        LOGO_KEY,
        {
            "mime": logo.mime,
            "width": logo.width,
            "height": logo.height,
            "data": base64.b64encode(logo.data).decode("ascii"),
        },
    )
    return logo


def remove_logo(session: Session) -> None:
    """Forget the uploaded logo (the layout's logo URL, if any, applies again)."""
    set_setting(session, LOGO_KEY, None)


def stored_logo(session: Session) -> Logo | None:
    """The uploaded logo, or None."""
    value = get_setting(session, LOGO_KEY)
    if not isinstance(value, dict):
        return None
    try:
        return Logo(
            base64.b64decode(value["data"]), str(value["mime"]), value["width"], value["height"]
        )
    except (KeyError, TypeError, ValueError):
        return None
