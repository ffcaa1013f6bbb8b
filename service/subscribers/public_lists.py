"""The lists a stranger may see: the public, open lists of the signup pages (a private list is
answered like one that does not exist), and the signup URL and HTML snippet staff embed on
another site.
"""

from __future__ import annotations

import re
from html import escape

from sqlalchemy import select
from sqlalchemy.orm import Session

from service.model import MailingList

# What a list slug can look like; anything else is refused before it reaches the database.
_SLUG_SHAPE = re.compile(r"[A-Za-z0-9_.-]{1,64}\Z")


class ListUnavailable(LookupError):
    """The list does not exist or is archived: nobody can subscribe to it."""


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
