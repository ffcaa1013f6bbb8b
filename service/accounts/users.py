"""Staff accounts: creating users, checking passwords, API tokens."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, tzinfo

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from service.accounts.sessions import end_all_sessions
from service.errors import DomainError
from service.model import ApiToken, Role, User, utcnow

MIN_PASSWORD_LENGTH = 8
API_TOKEN_PREFIX = "tdg_"
GENERATED_PASSWORD_BYTES = 12
# What a token may do, by the name people use (the CLI's ``--scope``) and as stored: a
# read-only token may only GET, a send token may also change things and start campaigns.
TOKEN_SCOPES = {"read": "read", "send": "read write"}

_hasher = PasswordHasher()
# Verifying against this when the account does not exist keeps the timing of a failed
# login the same whether or not the address is known.
_DUMMY_HASH = _hasher.hash("not-a-real-password")


class AccountError(DomainError, ValueError):
    """A user or token request that cannot be honoured; the message says why."""


def bad_role() -> AccountError:
    """The error for a role that is not one of ``Role``."""
    return AccountError("account.bad_role", "role must be one of %(roles)s", roles=", ".join(Role))


def short_password() -> AccountError:
    """The error for a password shorter than ``MIN_PASSWORD_LENGTH``."""
    return AccountError(
        "account.short_password",
        "the password must have at least %(min)s characters",
        min=MIN_PASSWORD_LENGTH,
    )


def hash_password(password: str) -> str:
    """An argon2id hash of ``password``."""
    return _hasher.hash(password)


def normalise_email(email: str) -> str:
    """Staff addresses compare case-insensitively."""
    return email.strip().casefold()


def create_user(session: Session, email: str, password: str, role: str = Role.EDITOR) -> User:
    """Add a staff member; raise ``AccountError`` for a taken address or a weak password."""
    email = normalise_email(email)
    if "@" not in email:
        raise AccountError("account.bad_email", "%(email)r is not an email address", email=email)
    if role not in set(Role):
        raise bad_role()
    if len(password) < MIN_PASSWORD_LENGTH:
        raise short_password()
    if session.scalar(select(User.id).where(User.email == email)) is not None:
        raise AccountError("account.email_taken", "a user %(email)s already exists", email=email)
    user = User(email=email, password_hash=hash_password(password), role=role)
    session.add(user)
    session.flush()
    return user


def set_password(session: Session, user: User, password: str) -> None:
    """Change a password and end the user's other sessions."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise short_password()
    user.password_hash = hash_password(password)
    end_all_sessions(session, user)


def authenticate(session: Session, email: str, password: str) -> User | None:
    """The active user with this address and password, or None."""
    user = user_by_email(session, email)
    try:
        _hasher.verify(user.password_hash if user else _DUMMY_HASH, password)
    except (VerificationError, InvalidHashError):
        return None
    if user is None or not user.active:
        return None
    if _hasher.check_needs_rehash(user.password_hash):
        user.password_hash = hash_password(password)
    user.last_login_at = utcnow()
    return user


def count_users(session: Session) -> int:
    """How many staff accounts exist (zero on a fresh install)."""
    return session.scalar(select(func.count(User.id))) or 0


def generate_password() -> str:
    """A random password for the first admin, printed once."""
    return secrets.token_urlsafe(GENERATED_PASSWORD_BYTES)


@dataclass(frozen=True)
class NewToken:
    """A freshly made API token: ``secret`` is shown once and never stored."""

    token: ApiToken
    secret: str


def hash_token(secret: str) -> str:
    """API tokens are long random strings, so a plain SHA-256 is the right hash."""
    return hashlib.sha256(secret.encode()).hexdigest()


def create_api_token(
    session: Session,
    user: User,
    name: str = "",
    scopes: str = "read write",
    expires_at: datetime | None = None,
) -> NewToken:
    """Make an API token for ``user`` (working until ``expires_at`` when given, which must
    lie ahead); the secret is returned once."""
    if expires_at is not None and expires_at <= utcnow():
        raise AccountError("account.expiry_passed", "the expiry date must lie in the future")
    secret = API_TOKEN_PREFIX + secrets.token_urlsafe(32)
    token = ApiToken(
        user_id=user.id,
        name=name,
        prefix=secret[:10],
        token_hash=hash_token(secret),
        scopes=scopes,
        expires_at=expires_at,
    )
    session.add(token)
    session.flush()
    return NewToken(token=token, secret=secret)


def expiry_after(day: date, zone: tzinfo) -> datetime:
    """When a token that "expires on ``day``" stops: the token works through that day,
    in the installation's time zone ``zone``, until the following midnight."""
    return datetime.combine(day + timedelta(days=1), time(0, 0), tzinfo=zone)


def parse_expiry(text: str, zone: tzinfo) -> datetime | None:
    """``expiry_after`` the ``YYYY-MM-DD`` date in ``text``; None for an empty text."""
    text = text.strip()
    if not text:
        return None
    try:
        day = date.fromisoformat(text)
    except ValueError as exc:
        raise AccountError(
            "account.bad_expiry", "%(value)r is not a date like 2027-01-31", value=text[:40]
        ) from exc
    return expiry_after(day, zone)


def user_by_email(session: Session, email: str) -> User | None:
    """The user with this address, if any (None for any string no address can be)."""
    address = normalise_email(email)
    if "\x00" in address:  # stored by no one, and PostgreSQL refuses it even in a query
        return None
    return session.scalar(select(User).where(User.email == address))
