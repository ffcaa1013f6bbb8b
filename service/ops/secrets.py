"""Keeping secrets out of pages: URLs with passwords are shown masked, and a masked URL
sent back by a form keeps the stored password instead of overwriting it with the mask."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any
from urllib.parse import urlsplit

MASK = "***"


def mask_url(url: str) -> str:
    """``scheme://user:***@host:port…``: the password never reaches a page."""
    try:
        parts = urlsplit(url)
        password = parts.password
    except ValueError:
        return url
    if not password:
        return url
    return url.replace(f":{password}@", f":{MASK}@", 1)


def _identity(url: str) -> tuple[str, str | None, str | None, int | None] | None:
    try:
        parts = urlsplit(url)
        return (parts.scheme, parts.username, parts.hostname, parts.port)
    except ValueError:
        return None


def restore_masked(
    submitted: Iterable[dict[str, Any]], stored_urls: Iterable[str]
) -> list[dict[str, Any]]:
    """Relays from a form, with each ``:***@`` password put back from the stored URL of
    the same scheme, user, host and port (unchanged rows keep their secret)."""
    known = {_identity(url): url for url in stored_urls}
    restored = []
    for entry in submitted:
        url = str(entry.get("url", ""))
        if f":{MASK}@" in url and _identity(url) in known:
            original = known[_identity(url)]
            password = urlsplit(original).password or ""
            url = url.replace(f":{MASK}@", f":{password}@", 1)
        restored.append({**entry, "url": url})
    return restored
