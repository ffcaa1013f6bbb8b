"""Logging in and out of the admin: the password, the second factor, the throttles.

Throttling is built so that a stranger cannot lock a member of staff out: failed attempts
count per address and per account *from that address* (a guesser is stopped where they
are, while the real user logs in from their own computer), per address over all accounts
(against spraying one password over many), and per account over all addresses only for
browsers that never logged into it (a browser that did carries a signed cookie saying
so, and its owner is never refused for what others do elsewhere).
"""

from __future__ import annotations

import hashlib
import time
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

from flask import (
    Blueprint,
    Response,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from flask import session as cookie_session
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import UserMixin, current_user, login_user, logout_user
from flask_wtf import FlaskForm
from itsdangerous import BadSignature, URLSafeTimedSerializer
from werkzeug.wrappers import Response as BaseResponse
from wtforms import EmailField, PasswordField, StringField
from wtforms.validators import DataRequired

from service.accounts import sessions, two_factor
from service.accounts.audit import audit
from service.accounts.users import authenticate, normalise_email, user_by_email
from service.model import User
from service.web.context import db_session
from service.web.extensions import limiter, login_manager

bp = Blueprint("auth", __name__)

# Only failed attempts count against these (see ``_failed``): staff who type their password
# right are never slowed down. Per address, whatever the accounts (spraying):
LOGIN_LIMIT_PER_IP = "10/minute"
# Per account from one address: a guesser there is stopped after a handful of tries, and
# only there.
LOGIN_LIMIT_PER_CLIENT = "5/minute;20/hour"
# Per account from everywhere, for browsers that never logged into it: a guesser with
# many addresses is stopped too; a browser that logged in before is exempt.
LOGIN_LIMIT_PER_ACCOUNT = "50/hour"
# Wrong second-factor codes, per account (only someone who has the password gets here).
TWO_FACTOR_LIMIT_PER_ACCOUNT = "5/minute;30/hour"
# How long the code may wait after a right password.
PENDING_LOGIN_LIFETIME = timedelta(minutes=5)
# The "this browser logged in as ..." cookie: signed, remembers a few accounts.
KNOWN_BROWSER_COOKIE = "tidings_known"
KNOWN_BROWSER_LIFETIME = timedelta(days=180)
KNOWN_BROWSER_ACCOUNTS = 5
_KNOWN_BROWSER_SALT = "tidings.known-browser"
SESSION_LIFETIME = sessions.SESSION_LIFETIME
_PENDING = "pending_login"


def _account_hash(email: str) -> str:
    # Hashed: addresses (possibly mistyped, possibly someone else's) are not stored in Redis.
    return hashlib.sha256(normalise_email(email).encode()).hexdigest()[:32]


def _account_key() -> str:
    return "login-account:" + _account_hash(request.form.get("email", ""))


def _client_account_key() -> str:
    pair = f"{_account_hash(request.form.get('email', ''))}|{request.remote_addr or ''}"
    return "login-client:" + hashlib.sha256(pair.encode()).hexdigest()[:32]


def _pending_key() -> str:
    pending = cookie_session.get(_PENDING)
    user_id = pending.get("user") if isinstance(pending, dict) else None
    return f"login-second-factor:{user_id}"


def _failed(response: Response) -> bool:
    return response.status_code == 401


def _known_browsers() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.secret_key or "", salt=_KNOWN_BROWSER_SALT)


def _known_accounts() -> list[str]:
    raw = request.cookies.get(KNOWN_BROWSER_COOKIE)
    if not raw:
        return []
    try:
        value = _known_browsers().loads(raw, max_age=int(KNOWN_BROWSER_LIFETIME.total_seconds()))
    except BadSignature:
        return []
    return [str(item) for item in value] if isinstance(value, list) else []


def _known_browser() -> bool:
    """Whether this browser logged into the account it tries now (exempt from the
    per-account limit)."""
    return _account_hash(request.form.get("email", "")) in _known_accounts()


def _remember_browser(response: BaseResponse, email: str) -> None:
    account = _account_hash(email)
    accounts = [account] + [a for a in _known_accounts() if a != account]
    response.set_cookie(
        KNOWN_BROWSER_COOKIE,
        _known_browsers().dumps(accounts[:KNOWN_BROWSER_ACCOUNTS]),
        max_age=int(KNOWN_BROWSER_LIFETIME.total_seconds()),
        httponly=True,
        samesite="Lax",
        secure=bool(current_app.config.get("SESSION_COOKIE_SECURE")),
    )


@bp.record_once
def _session_lifetime(state: Any) -> None:
    state.app.config["PERMANENT_SESSION_LIFETIME"] = SESSION_LIFETIME


class LoginUser(UserMixin):
    """The logged-in staff member as Flask-Login sees them.

    The id is the server-side session's (user, session version, key): logging out deletes
    the session's row; a password change, a role change, deactivation and "log out
    everywhere" delete every row of the user and bump the version.
    """

    def __init__(self, user: User, sid: sessions.SessionId, must_set_up: bool = False) -> None:
        self.user_id = user.id
        self.email = user.email
        self.role = user.role
        self.sid = sid
        # An admin without a second factor while admins must have one.
        self.must_set_up_two_factor = must_set_up

    def get_id(self) -> str:
        """``<user id>:<session version>:<session key>``."""
        return str(self.sid)


@login_manager.user_loader
def load_user(identifier: str) -> LoginUser | None:
    """Find the user of a session; an ended or stale session logs them out."""
    sid = sessions.SessionId.parse(identifier)
    if sid is None:
        return None
    session = db_session()
    user = sessions.session_user(session, sid)
    if user is None:
        return None
    return LoginUser(user, sid, two_factor.must_set_up(session, user))


def start_login(user: User) -> None:
    """Open a new session for ``user`` in this browser (after a login, or to keep this
    browser in after its own password change ended every session)."""
    session = db_session()
    sid = sessions.start_session(session, user, request.remote_addr)
    session.commit()
    cookie_session.permanent = True
    login_user(LoginUser(user, sid, two_factor.must_set_up(session, user)))


class LoginForm(FlaskForm):
    """Email and password."""

    email = EmailField(_l("Email"), validators=[DataRequired()])
    password = PasswordField(_l("Password"), validators=[DataRequired()])


class SecondFactorForm(FlaskForm):
    """The code from the authenticator app, or a recovery code."""

    code = StringField(_l("Code"), validators=[DataRequired()])


def _safe_next(target: str | None) -> str:
    # Only same-site paths: a crafted ?next= must not send staff to another site. Browsers
    # read "/\\evil.example" like "//evil.example", and drop tabs and newlines, so any
    # backslash or control character disqualifies the target.
    if (
        target
        and target.startswith("/")
        and not target.startswith("//")
        and "\\" not in target
        and not any(ord(c) < 32 or ord(c) == 127 for c in target)
        and not urlsplit(target).netloc
    ):
        return target
    return url_for("admin.dashboard")


@bp.route("/login", methods=["GET", "POST"])
@limiter.limit(LOGIN_LIMIT_PER_IP, methods=["POST"], deduct_when=_failed)
@limiter.limit(
    LOGIN_LIMIT_PER_CLIENT, methods=["POST"], key_func=_client_account_key, deduct_when=_failed
)
@limiter.limit(
    LOGIN_LIMIT_PER_ACCOUNT,
    methods=["POST"],
    key_func=_account_key,
    deduct_when=_failed,
    exempt_when=_known_browser,
)
def login() -> Any:
    """Show the login form; on a good password, start a session or ask for the code."""
    form = LoginForm()
    if form.validate_on_submit():
        session = db_session()
        user = authenticate(session, form.email.data or "", form.password.data or "")
        if user is not None and two_factor.is_enabled(user):
            session.rollback()  # "last login" waits for the second factor
            cookie_session[_PENDING] = {
                "user": user.id,
                "version": user.session_version,
                "at": int(time.time()),
                "next": _safe_next(request.args.get("next")),
            }
            return redirect(url_for("auth.second_factor"))
        if user is not None:
            return _logged_in(user, _safe_next(request.args.get("next")), "password")
        _audit_failure(session, form.email.data or "")
        flash(_("Wrong email or password."), "error")
        return render_template("login.html", form=form), 401
    return render_template("login.html", form=form)


def _logged_in(user: User, target: str, how: str) -> Any:
    session = db_session()
    audit(session, user.id, "login", "user", user.id, request.remote_addr, factor=how)
    cookie_session.pop(_PENDING, None)
    start_login(user)
    response = redirect(target)
    _remember_browser(response, user.email)
    return response


def _pending_user() -> tuple[User, str] | None:
    pending = cookie_session.get(_PENDING)
    if not isinstance(pending, dict):
        return None
    started = pending.get("at")
    if (
        not isinstance(started, int)
        or time.time() - started > PENDING_LOGIN_LIFETIME.total_seconds()
    ):
        return None
    user_id = pending.get("user")
    user = db_session().get(User, user_id) if isinstance(user_id, int) else None
    if user is None or not user.active or user.session_version != pending.get("version"):
        return None
    if not two_factor.is_enabled(user):
        return None
    return user, _safe_next(str(pending.get("next") or ""))


@bp.route("/login/code", methods=["GET", "POST"])
@limiter.limit(LOGIN_LIMIT_PER_IP, methods=["POST"], deduct_when=_failed)
@limiter.limit(
    TWO_FACTOR_LIMIT_PER_ACCOUNT, methods=["POST"], key_func=_pending_key, deduct_when=_failed
)
def second_factor() -> Any:
    """After the right password: the code from the app (or a recovery code)."""
    pending = _pending_user()
    if pending is None:
        cookie_session.pop(_PENDING, None)
        flash(_("Please log in again."), "info")
        return redirect(url_for("auth.login"))
    user, target = pending
    form = SecondFactorForm()
    if form.validate_on_submit():
        session = db_session()
        how = two_factor.check_second_factor(session, user, form.code.data or "")
        if how is not None:
            return _logged_in(user, target, how)
        session.rollback()
        audit(
            session,
            None,
            "login.failed",
            "user",
            user.id,
            request.remote_addr,
            email=user.email,
            reason="second_factor",
        )
        session.commit()
        flash(_("That code is not right. Type the code your app shows now."), "error")
        return render_template("login_code.html", form=form), 401
    return render_template("login_code.html", form=form)


def _audit_failure(session: Any, email: str) -> None:
    # The address tried is kept (to spot guessing), the password never is.
    known = user_by_email(session, email)
    audit(
        session,
        None,
        "login.failed",
        "user",
        known.id if known else None,
        request.remote_addr,
        email=normalise_email(email)[:320],
    )
    session.commit()


@bp.errorhandler(429)
def too_many_attempts(_error: Any) -> Any:
    """The login page again, saying to wait, instead of a bare error."""
    flash(_("Too many failed attempts. Wait a minute, then try again."), "error")
    if request.endpoint == "auth.second_factor":
        return render_template("login_code.html", form=SecondFactorForm()), 429
    return render_template("login.html", form=LoginForm()), 429


@bp.route("/logout", methods=["POST"])
def logout() -> Any:
    """End this session: its row goes, so the cookie opens nothing any more."""
    sid = getattr(current_user, "sid", None)
    if isinstance(sid, sessions.SessionId):
        session = db_session()
        sessions.end_session(session, sid)
        session.commit()
    logout_user()
    cookie_session.pop(_PENDING, None)
    flash(_("You have logged out."), "info")
    return redirect(url_for("auth.login"))
