"""Staff sessions kept on the server: a cookie is good only while its row exists.

The session cookie (signed by Flask, readable by its holder) carries the user id, the
user's ``session_version`` and a random key; the ``staff_sessions`` row holds the key's
hash. Logging out deletes that one row; a password change, a role change, deactivation and
"log out everywhere" bump the version and delete every row of the user; deleting the user
deletes its rows (the foreign key cascades). A copied cookie dies with its row.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from service.model import StaffSession, User, utcnow

# How long a login lasts without a new one (the cookie is "permanent" for as long; the
# row outlives neither).
SESSION_LIFETIME = timedelta(hours=12)
SESSION_KEY_BYTES = 32
_SEPARATOR = ":"


@dataclass(frozen=True)
class SessionId:
    """What the cookie carries: whose session, which version of their sessions, its key."""

    user_id: int
    version: int
    key: str

    def __str__(self) -> str:
        return _SEPARATOR.join((str(self.user_id), str(self.version), self.key))

    @classmethod
    def parse(cls, text: str) -> SessionId | None:
        """The id written by ``str()``, or None for anything else (older cookies too)."""
        user_id, version, key = (text.split(_SEPARATOR, 2) + ["", ""])[:3]
        if not (user_id.isascii() and user_id.isdigit() and version.isascii()):
            return None
        if not version.isdigit() or not key:
            return None
        return cls(int(user_id), int(version), key)


def _hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def start_session(session: Session, user: User, ip: str | None) -> SessionId:
    """A new session for ``user`` (after a login); the user's expired rows are cleared."""
    key = secrets.token_urlsafe(SESSION_KEY_BYTES)
    cutoff = utcnow() - SESSION_LIFETIME
    session.execute(
        delete(StaffSession).where(
            StaffSession.user_id == user.id, StaffSession.created_at < cutoff
        )
    )
    session.add(StaffSession(user_id=user.id, key_hash=_hash(key), ip=(ip or "")[:64] or None))
    session.flush()
    return SessionId(user.id, user.session_version, key)


def session_user(session: Session, sid: SessionId) -> User | None:
    """The active user of a live session, or None (logged out, ended, expired, gone)."""
    cutoff = utcnow() - SESSION_LIFETIME
    return session.scalar(
        select(User)
        .join(StaffSession, StaffSession.user_id == User.id)
        .where(
            User.id == sid.user_id,
            User.active.is_(True),
            User.session_version == sid.version,
            StaffSession.key_hash == _hash(sid.key),
            StaffSession.created_at >= cutoff,
        )
    )


def end_session(session: Session, sid: SessionId) -> None:
    """End one session (logging out): its cookie no longer opens anything."""
    session.execute(
        delete(StaffSession).where(
            StaffSession.user_id == sid.user_id, StaffSession.key_hash == _hash(sid.key)
        )
    )


def end_all_sessions(session: Session, user: User) -> None:
    """End every session of ``user`` at once."""
    user.session_version += 1
    session.execute(delete(StaffSession).where(StaffSession.user_id == user.id))
