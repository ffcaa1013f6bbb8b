"""Two-factor login: codes from an authenticator app (TOTP, RFC 6238, by pyotp) and
one-time recovery codes for a lost phone; the setting that makes admins use them.

Setting up is two steps: ``begin_setup`` stores a new secret (shown to the user as a key
and an ``otpauth://`` URI), ``confirm_setup`` turns it on once a code from the app matches
and returns the recovery codes, the only time they are shown in clear.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from typing import Literal

import pyotp
from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from service.accounts.settings_store import get_setting, set_setting
from service.errors import DomainError
from service.model import RecoveryCode, Role, User, utcnow

TOTP_ISSUER = "Tidings"
TOTP_DIGITS = 6
TOTP_INTERVAL = 30  # seconds, what every authenticator app uses
# Codes of the step before and after are taken too: a phone clock half a minute off works.
TOTP_VALID_WINDOW = 1
TOTP_SECRET_LENGTH = 32  # base32 characters: 160 bits, the RFC 4226 recommendation
RECOVERY_CODE_COUNT = 10
# Unambiguous letters and digits (no 0/o, 1/l/i): 16 of them are about 79 bits.
RECOVERY_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"
RECOVERY_CODE_LENGTH = 16
RECOVERY_GROUP = 4  # shown as xxxx-xxxx-xxxx-xxxx
# The settings-store key of "admins must use two-factor login".
ADMINS_MUST_USE_KEY = "security.admin_two_factor"

SecondFactor = Literal["totp", "recovery_code"]


class TwoFactorError(DomainError, ValueError):
    """A two-factor request that cannot be honoured; the message says what to do."""


def is_enabled(user: User) -> bool:
    """Whether logins of ``user`` ask for a code."""
    return user.totp_enabled_at is not None and user.totp_secret is not None


def begin_setup(session: Session, user: User) -> str:
    """Store a new secret for ``user`` (not yet asked for at login) and return it."""
    if is_enabled(user):
        raise TwoFactorError("two_factor.already_on", "two-factor login is already on")
    user.totp_secret = pyotp.random_base32(TOTP_SECRET_LENGTH)
    user.totp_last_step = None
    session.flush()
    return user.totp_secret


def setup_uri(user: User, issuer: str = TOTP_ISSUER) -> str:
    """The ``otpauth://totp/...`` URI an authenticator app reads (as a QR code or text)."""
    if user.totp_secret is None:
        raise _not_started()
    return pyotp.TOTP(
        user.totp_secret, digits=TOTP_DIGITS, interval=TOTP_INTERVAL
    ).provisioning_uri(name=user.email, issuer_name=issuer)


def _not_started() -> TwoFactorError:
    return TwoFactorError("two_factor.not_started", "start the two-factor setup first")


def confirm_setup(session: Session, user: User, code: str) -> list[str]:
    """Turn two-factor login on when ``code`` matches the app; the new recovery codes."""
    if is_enabled(user):
        raise TwoFactorError("two_factor.already_on", "two-factor login is already on")
    if user.totp_secret is None:
        raise _not_started()
    if not _accept_totp(user, code):
        raise _wrong_code()
    user.totp_enabled_at = utcnow()
    return new_recovery_codes(session, user)


def _wrong_code() -> TwoFactorError:
    return TwoFactorError(
        "two_factor.wrong_code",
        "the code is not right; type the code the app shows now (and check the phone's clock)",
    )


def totp_code(secret: str, for_time: float) -> str:
    """The code an authenticator app shows for ``secret`` at ``for_time`` (Unix seconds)."""
    return pyotp.TOTP(secret, digits=TOTP_DIGITS, interval=TOTP_INTERVAL).at(for_time)


def _digits(code: str) -> str:
    # People type "123 456" or paste with spaces.
    return "".join(code.split())


def _accept_totp(user: User, code: str, now: float | None = None) -> bool:
    typed = _digits(code)
    if user.totp_secret is None or len(typed) != TOTP_DIGITS or not typed.isascii():
        return False
    if not typed.isdigit():
        return False
    totp = pyotp.TOTP(user.totp_secret, digits=TOTP_DIGITS, interval=TOTP_INTERVAL)
    current = int((time.time() if now is None else now) // TOTP_INTERVAL)
    last = user.totp_last_step if user.totp_last_step is not None else -1
    for step in (current, current - TOTP_VALID_WINDOW, current + TOTP_VALID_WINDOW):
        # A code already used (or one older than it) is refused: a code seen over a
        # shoulder or in a log cannot be replayed within its half minute.
        if step > last and hmac.compare_digest(totp.generate_otp(step), typed):
            user.totp_last_step = step
            return True
    return False


def _normalise_recovery(code: str) -> str:
    return "".join(ch for ch in code.casefold() if ch.isalnum())


def _hash_recovery(code: str) -> str:
    # The codes are long and random, so a plain SHA-256 is the right hash (as for tokens).
    return hashlib.sha256(_normalise_recovery(code).encode()).hexdigest()


def _new_recovery_code() -> str:
    raw = "".join(secrets.choice(RECOVERY_ALPHABET) for _ in range(RECOVERY_CODE_LENGTH))
    return "-".join(raw[i : i + RECOVERY_GROUP] for i in range(0, len(raw), RECOVERY_GROUP))


def new_recovery_codes(session: Session, user: User) -> list[str]:
    """Replace ``user``'s recovery codes with new ones; returned in clear this once."""
    session.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user.id))
    codes = [_new_recovery_code() for _ in range(RECOVERY_CODE_COUNT)]
    session.add_all(RecoveryCode(user_id=user.id, code_hash=_hash_recovery(c)) for c in codes)
    session.flush()
    return codes


def recovery_codes_left(session: Session, user: User) -> int:
    """How many of ``user``'s recovery codes are still unused."""
    query = select(func.count(RecoveryCode.id)).where(
        RecoveryCode.user_id == user.id, RecoveryCode.used_at.is_(None)
    )
    return session.scalar(query) or 0


def _use_recovery_code(session: Session, user: User, code: str) -> bool:
    if not _normalise_recovery(code):
        return False
    row = session.scalar(
        select(RecoveryCode).where(
            RecoveryCode.user_id == user.id,
            RecoveryCode.code_hash == _hash_recovery(code),
            RecoveryCode.used_at.is_(None),
        )
    )
    if row is None:
        return False
    row.used_at = utcnow()
    return True


def check_second_factor(session: Session, user: User, code: str) -> SecondFactor | None:
    """Which second factor ``code`` is for ``user`` (an app code, or an unused recovery
    code, which is used up now), or None when it is neither."""
    if not is_enabled(user):
        return None
    if _accept_totp(user, code):
        return "totp"
    if _use_recovery_code(session, user, code):
        return "recovery_code"
    return None


def turn_off(session: Session, user: User) -> None:
    """Stop asking ``user`` for a code; the secret and recovery codes are deleted."""
    if user.role == Role.ADMIN and admins_must_use(session):
        raise TwoFactorError(
            "two_factor.required_for_admins",
            "admins must use two-factor login; an admin can turn that rule off first",
        )
    reset(session, user)


def reset(session: Session, user: User) -> None:
    """An admin's reset for someone who lost phone and codes: two-factor login is off
    (an admin is then asked to set it up again if the rule is on)."""
    user.totp_secret = None
    user.totp_enabled_at = None
    user.totp_last_step = None
    session.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user.id))


def admins_must_use(session: Session) -> bool:
    """Whether admins must have two-factor login (those without are sent to set it up)."""
    return bool(get_setting(session, ADMINS_MUST_USE_KEY, False))


def set_admins_must_use(session: Session, admin: User, required: bool) -> None:
    """Turn the rule on or off; on only by an admin who already uses two-factor login,
    so that turning it on never shuts the admin who did it out of the admin pages."""
    if required and not is_enabled(admin):
        raise TwoFactorError(
            "two_factor.set_up_yours_first",
            "set up two-factor login for your own account before requiring it of admins",
        )
    set_setting(session, ADMINS_MUST_USE_KEY, bool(required))


def must_set_up(session: Session, user: User) -> bool:
    """Whether ``user`` is an admin without two-factor login while the rule is on."""
    return user.role == Role.ADMIN and not is_enabled(user) and admins_must_use(session)
