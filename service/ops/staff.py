"""Managing staff accounts: roles, deactivation, passwords, sessions and API tokens.

Plain functions over a ``Session`` (the users admin, the CLI and tests call the same
code). Every guard that protects the service from locking itself out lives here: the
last active admin can be neither demoted nor deactivated.
"""

from __future__ import annotations

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from service.accounts.sessions import end_all_sessions
from service.accounts.users import TOKEN_SCOPES as SCOPES_BY_NAME
from service.accounts.users import AccountError, bad_role, set_password
from service.model import ApiToken, Role, User, utcnow

# The scopes as stored, the read-only one first.
TOKEN_SCOPES = tuple(SCOPES_BY_NAME.values())

_hasher = PasswordHasher()


def list_users(session: Session) -> list[User]:
    """Every staff account, admins first, then by address."""
    order = {Role.ADMIN: 0, Role.EDITOR: 1, Role.VIEWER: 2}
    users = list(session.scalars(select(User).order_by(User.email)))
    return sorted(users, key=lambda u: (not u.active, order.get(Role(u.role), 3)))


def get_user(session: Session, user_id: int) -> User:
    """The user with this id; ``AccountError`` if there is none."""
    user = session.get(User, user_id)
    if user is None:
        raise AccountError("account.no_user", "no such user")
    return user


def _active_admins(session: Session) -> int:
    query = select(func.count(User.id)).where(User.role == Role.ADMIN, User.active.is_(True))
    return session.scalar(query) or 0


def _guard_last_admin(session: Session, user: User) -> None:
    if user.role == Role.ADMIN and user.active and _active_admins(session) <= 1:
        raise AccountError(
            "account.last_admin", "the last active admin cannot be demoted or deactivated"
        )


def change_role(session: Session, user: User, role: str) -> None:
    """Give ``user`` another role (admin, editor, viewer); their sessions end, so that
    they log in again under the new one."""
    if role not in set(Role):
        raise bad_role()
    if role == user.role:
        return
    if role != Role.ADMIN:
        _guard_last_admin(session, user)
    user.role = role
    end_sessions(session, user)


def set_active(session: Session, user: User, active: bool) -> None:
    """Deactivate (their sessions end at once) or reactivate an account."""
    if not active:
        _guard_last_admin(session, user)
        end_sessions(session, user)
    user.active = active


def end_sessions(session: Session, user: User) -> None:
    """Log ``user`` out everywhere: every session row goes, and every session id carries
    the old version."""
    end_all_sessions(session, user)


def reset_password(session: Session, user: User, new_password: str) -> None:
    """An admin sets a new password; the user's sessions end."""
    set_password(session, user, new_password)


def check_own_password(user: User, current: str) -> None:
    """``AccountError`` unless ``current`` is ``user``'s password (asked again before a
    change to one's own account)."""
    try:
        _hasher.verify(user.password_hash, current)
    except (VerificationError, InvalidHashError) as exc:
        raise AccountError("account.wrong_password", "the current password is not right") from exc


def change_own_password(session: Session, user: User, current: str, new_password: str) -> None:
    """Change one's own password, proving the current one first."""
    check_own_password(user, current)
    set_password(session, user, new_password)


def list_tokens(session: Session, user_id: int) -> list[ApiToken]:
    """A user's API tokens, newest first (revoked ones too, marked as such)."""
    query = select(ApiToken).where(ApiToken.user_id == user_id).order_by(ApiToken.id.desc())
    return list(session.scalars(query))


def scopes_for(user: User, requested: str) -> str:
    """The scopes a new token gets: a viewer's tokens can only read."""
    if requested not in TOKEN_SCOPES:
        raise AccountError(
            "account.bad_scopes",
            "scopes must be one of %(scopes)s",
            scopes=", ".join(TOKEN_SCOPES),
        )
    return "read" if user.role == Role.VIEWER else requested


def revoke_token(session: Session, user_id: int, token_id: int) -> ApiToken:
    """Revoke one of the user's own tokens (idempotent)."""
    token = session.get(ApiToken, token_id)
    if token is None or token.user_id != user_id:
        raise AccountError("account.no_token", "no such token")
    if token.revoked_at is None:
        token.revoked_at = utcnow()
    return token
