"""Logging in and out of the admin."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import UserMixin, login_user, logout_user
from flask_wtf import FlaskForm
from wtforms import EmailField, PasswordField
from wtforms.validators import DataRequired

from service.accounts.models import User
from service.accounts.users import authenticate
from service.extensions import login_manager
from service.web.context import db_session

bp = Blueprint("auth", __name__)


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
    # Only same-site paths: a crafted ?next= must not send staff to another site.
    if (
        target
        and target.startswith("/")
        and not target.startswith("//")
        and not urlsplit(target).netloc
    ):
        return target
    return url_for("admin.dashboard")


@bp.route("/login", methods=["GET", "POST"])
def login() -> Any:
    """Show the login form; on a good password, start a session."""
    form = LoginForm()
    if form.validate_on_submit():
        session = db_session()
        user = authenticate(session, form.email.data, form.password.data)
        if user is not None:
            session.commit()
            login_user(LoginUser(user))
            return redirect(_safe_next(request.args.get("next")))
        flash(_("Wrong email or password."), "error")
        return render_template("login.html", form=form), 401
    return render_template("login.html", form=form)


@bp.route("/logout", methods=["POST"])
def logout() -> Any:
    """End this session."""
    logout_user()
    flash(_("You have logged out."), "info")
    return redirect(url_for("auth.login"))
