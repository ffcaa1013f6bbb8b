"""Staff accounts: creating users, checking passwords, API tokens."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from service.errors import DomainError
from service.model import ApiToken, Role, User, utcnow

MIN_PASSWORD_LENGTH = 8
API_TOKEN_PREFIX = "tdg_"
GENERATED_PASSWORD_BYTES = 12

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
    user.session_version += 1


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
    session: Session, user: User, name: str = "", scopes: str = "read write"
) -> NewToken:
    """Make an API token for ``user``; the secret is returned once."""
    secret = API_TOKEN_PREFIX + secrets.token_urlsafe(32)
    token = ApiToken(
        user_id=user.id, name=name, prefix=secret[:10], token_hash=hash_token(secret), scopes=scopes
    )
    session.add(token)
    session.flush()
    return NewToken(token=token, secret=secret)


def user_by_email(session: Session, email: str) -> User | None:
    """The user with this address, if any (None for any string no address can be)."""
    address = normalise_email(email)
    if "\x00" in address:  # stored by no one, and PostgreSQL refuses it even in a query
        return None
    return session.scalar(select(User).where(User.email == address))
