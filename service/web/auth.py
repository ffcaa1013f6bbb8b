"""Logging in and out of the admin."""

from __future__ import annotations

import hashlib
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

from flask import Blueprint, Response, flash, redirect, render_template, request, url_for
from flask import session as cookie_session
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import UserMixin, login_user, logout_user
from flask_wtf import FlaskForm
from wtforms import EmailField, PasswordField
from wtforms.validators import DataRequired

from service.accounts.audit import audit
from service.accounts.users import authenticate, normalise_email, user_by_email
from service.model import User
from service.web.context import db_session
from service.web.extensions import limiter, login_manager

bp = Blueprint("auth", __name__)

# Only failed attempts count against these (see ``_failed``): staff who type their password
# right are never slowed down, a guesser is stopped after a handful of tries.
LOGIN_LIMIT_PER_IP = "10/minute"
LOGIN_LIMIT_PER_ACCOUNT = "5/minute"
# How long a login lasts without a new one (the cookie is "permanent" for this long).
SESSION_LIFETIME = timedelta(hours=12)


def _account_key() -> str:
    # Hashed: addresses (possibly mistyped, possibly someone else's) are not stored in Redis.
    email = normalise_email(request.form.get("email", ""))
    return "login-account:" + hashlib.sha256(email.encode()).hexdigest()[:32]


def _failed(response: Response) -> bool:
    return response.status_code == 401


@bp.record_once
def _session_lifetime(state: Any) -> None:
    state.app.config["PERMANENT_SESSION_LIFETIME"] = SESSION_LIFETIME


class LoginUser(UserMixin):
    """The logged-in staff member as Flask-Login sees them.

    The session id carries the user's ``session_version``: bumping it (password change,
    "log out everywhere") invalidates every existing session at once.
    """

    def __init__(self, user: User) -> None:
        self.user_id = user.id
        self.email = user.email
        self.role = user.role
        self.session_version = user.session_version

    def get_id(self) -> str:
        """``<user id>:<session version>``."""
        return f"{self.user_id}:{self.session_version}"


@login_manager.user_loader
def load_user(identifier: str) -> LoginUser | None:
    """Find the user of a session; a stale session version logs them out."""
    user_id, _sep, version = identifier.partition(":")
    if not user_id.isdigit() or not version.isdigit():
        return None
    user = db_session().get(User, int(user_id))
    if user is None or not user.active or user.session_version != int(version):
        return None
    return LoginUser(user)


class LoginForm(FlaskForm):
    """Email and password."""

    email = EmailField(_l("Email"), validators=[DataRequired()])
    password = PasswordField(_l("Password"), validators=[DataRequired()])


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
    LOGIN_LIMIT_PER_ACCOUNT, methods=["POST"], key_func=_account_key, deduct_when=_failed
)
def login() -> Any:
    """Show the login form; on a good password, start a session."""
    form = LoginForm()
    if form.validate_on_submit():
        session = db_session()
        user = authenticate(session, form.email.data or "", form.password.data or "")
        if user is not None:
            audit(session, user.id, "login", "user", user.id, request.remote_addr)
            session.commit()
            cookie_session.permanent = True
            login_user(LoginUser(user))
            return redirect(_safe_next(request.args.get("next")))
        _audit_failure(session, form.email.data or "")
        flash(_("Wrong email or password."), "error")
        return render_template("login.html", form=form), 401
    return render_template("login.html", form=form)


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
    return render_template("login.html", form=LoginForm()), 429


@bp.route("/logout", methods=["POST"])
def logout() -> Any:
    """End this session."""
    logout_user()
    flash(_("You have logged out."), "info")
    return redirect(url_for("auth.login"))
