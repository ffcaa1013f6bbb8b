"""Images in articles: uploaded in the admin, kept in the database, served at a public
address, and written into the article's Markdown.

Mail readers have no session, so the address is public; it carries a random token
(nobody lists the images of an unpublished issue by counting ids) and the image's pixel
size, ``/images/<token>/<width>x<height>/<name>``, so the email renderer can give the
``<img>`` its width and height without a database (``image_files.size_in_url``). Removing an
image from an article is editing its Markdown; the row stays, for mail already sent.
"""

from __future__ import annotations

import re
import secrets
import unicodedata
from pathlib import PurePath

from sqlalchemy import select
from sqlalchemy.orm import Session

from service.accounts.audit import audit
from service.issues import store
from service.issues.image_files import (
    GIF,
    IMAGE_PATH,
    JPEG,
    PNG,
    SUFFIXES,
    WEBP,
    ImageError,
    check_image,
    size_in_url,
)
from service.issues.structure import Article
from service.model import Issue, IssueImage

IMAGE_TYPES = (PNG, JPEG, GIF, WEBP)
# A photo for an email needs no more; every reader downloads it.
MAX_IMAGE_BYTES = 2 * 1024 * 1024
MAX_IMAGE_SIDE_PX = 8000
MAX_ALT_CHARS = 300
MAX_NAME_CHARS = 60
TOKEN_BYTES = 12

_NAME_JUNK = re.compile(r"[^a-z0-9]+")
_TOKEN = re.compile(r"[A-Za-z0-9_-]{8,32}\Z")
# Characters that would end or break the alt text of ``![alt](url)``.
_MARKDOWN_SPECIAL = re.compile(r"([\\\[\]])")

__all__ = [
    "IMAGE_PATH",
    "ImageError",
    "add_image",
    "find_image",
    "image_markdown",
    "image_url",
    "insert_into_article",
    "size_in_url",
]


def _safe_name(filename: str, mime: str) -> str:
    """An ASCII file name for the address: "Harbour view.PNG" → "harbour-view.png"."""
    stem = PurePath((filename or "").replace("\\", "/")).stem
    ascii_stem = unicodedata.normalize("NFKD", stem).encode("ascii", "ignore").decode()
    slug = _NAME_JUNK.sub("-", ascii_stem.lower()).strip("-")[:MAX_NAME_CHARS].strip("-")
    return f"{slug or 'image'}{SUFFIXES[mime]}"


def _clean_alt(alt: str) -> str:
    text = " ".join((alt or "").split())
    if not text:
        raise ImageError(
            "image.no_alt", "describe the image in a few words (readers who do not see it)"
        )
    if len(text) > MAX_ALT_CHARS:
        raise ImageError(
            "image.alt_too_long",
            "the description is longer than %(max)s characters",
            max=MAX_ALT_CHARS,
        )
    return text


def add_image(
    session: Session,
    issue: Issue,
    filename: str,
    data: bytes,
    alt: str,
    user_id: int | None = None,
) -> IssueImage:
    """Check and store an uploaded image of ``issue`` with its alt text (required).

    Raises :class:`ImageError` for a missing or too long alt text, a file that is not a
    PNG, JPEG, GIF or WebP, one over :data:`MAX_IMAGE_BYTES` or of impossible size.
    """
    clean_alt = _clean_alt(alt)
    found = check_image(
        data, max_bytes=MAX_IMAGE_BYTES, max_side=MAX_IMAGE_SIDE_PX, types=IMAGE_TYPES
    )
    image = IssueImage(
        issue_id=issue.id,
        token=secrets.token_urlsafe(TOKEN_BYTES),
        filename=_safe_name(filename, found.mime),
        mime=found.mime,
        width=found.width,
        height=found.height,
        alt=clean_alt,
        data=found.data,
        created_by=user_id,
    )
    session.add(image)
    session.flush()
    audit(
        session,
        user_id,
        "issue.image.add",
        "issue",
        issue.id,
        image_id=image.id,
        size=len(data),
        width=image.width,
        height=image.height,
    )
    return image


def image_url(base_url: str, image: IssueImage) -> str:
    """The public address of ``image`` (absolute: it is used in mail)."""
    return (
        f"{base_url.rstrip('/')}{IMAGE_PATH}/{image.token}/"
        f"{image.width}x{image.height}/{image.filename}"
    )


def image_markdown(base_url: str, image: IssueImage) -> str:
    """``![alt](address)`` of ``image``, for an article's body."""
    alt = _MARKDOWN_SPECIAL.sub(r"\\\1", image.alt)
    return f"![{alt}]({image_url(base_url, image)})"


def find_image(session: Session, token: str) -> IssueImage | None:
    """The image with that token, or None (also for a malformed token)."""
    if not _TOKEN.match(token):
        return None
    return session.scalar(select(IssueImage).where(IssueImage.token == token))


def insert_into_article(
    session: Session,
    issue: Issue,
    anchor: str,
    image: IssueImage,
    base_url: str,
    user_id: int | None = None,
) -> Article:
    """Append ``image`` to the end of the article's body, as a paragraph of its own."""
    doc = store.load_doc(issue)
    si, ai = store.find_article(doc, anchor)
    article = doc.sections[si].articles[ai]
    article.body = "\n\n".join(
        p for p in (article.body.rstrip(), image_markdown(base_url, image)) if p
    )
    store.save_doc(session, issue, doc)
    audit(session, user_id, "issue.article.edit", "issue", issue.id, anchor=anchor, image=image.id)
    return article
