"""Staff accounts in the admin: the users list (admins), one's own account and API tokens."""

from __future__ import annotations

from typing import Any

from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import login_user, logout_user

from service.accounts.audit import audit
from service.accounts.users import AccountError, create_api_token, create_user
from service.model import Role, User
from service.ops import staff
from service.web.auth import LoginUser
from service.web.context import db_session
from service.web.messages import flash_error
from service.web.roles import current_user_id, require_role, staff_blueprint

bp = staff_blueprint("users", __name__)

ROLES = tuple(Role)


def _me() -> User:
    user_id = current_user_id()
    if user_id is None:
        abort(403)
    return staff.get_user(db_session(), user_id)


def _user(user_id: int) -> User:
    try:
        return staff.get_user(db_session(), user_id)
    except AccountError:
        abort(404)


def _done(action: str, target: User | None, message: str, **detail: Any) -> None:
    session = db_session()
    audit(
        session,
        current_user_id(),
        action,
        "user",
        target.id if target else None,
        request.remote_addr,
        **detail,
    )
    session.commit()
    flash(message, "info")


def _problem(exc: AccountError, endpoint: str, **values: Any) -> Any:
    db_session().rollback()
    flash_error(exc)
    return redirect(url_for(endpoint, **values))


# --- the users list (admins) -------------------------------------------------------------


@bp.route("/users")
@require_role("admin")
def index() -> Any:
    """Every staff member with role, state and last login; forms to change them."""
    return render_template(
        "users/index.html", users=staff.list_users(db_session()), roles=ROLES, me=current_user_id()
    )


@bp.route("/users", methods=["POST"])
@require_role("admin")
def add() -> Any:
    """Add a staff member with a first password the admin passes on."""
    form = request.form
    try:
        user = create_user(
            db_session(), form.get("email", ""), form.get("password", ""), form.get("role", "")
        )
    except AccountError as exc:
        return _problem(exc, "users.index")
    _done("user.add", user, _("The user was added."), role=user.role)
    return redirect(url_for("users.index"))


@bp.route("/users/<int:user_id>/role", methods=["POST"])
@require_role("admin")
def change_role(user_id: int) -> Any:
    """Give a staff member another role."""
    user = _user(user_id)
    try:
        staff.change_role(db_session(), user, request.form.get("role", ""))
    except AccountError as exc:
        return _problem(exc, "users.index")
    _done("user.role", user, _("The role was changed."), role=user.role)
    # An admin who gave up their own admin role may no longer see the users page.
    if user.id == current_user_id() and user.role != Role.ADMIN:
        return redirect(url_for("admin.dashboard"))
    return redirect(url_for("users.index"))


@bp.route("/users/<int:user_id>/active", methods=["POST"])
@require_role("admin")
def set_active(user_id: int) -> Any:
    """Deactivate (ends their sessions) or reactivate a staff member."""
    user = _user(user_id)
    active = request.form.get("active") == "1"
    try:
        staff.set_active(db_session(), user, active)
    except AccountError as exc:
        return _problem(exc, "users.index")
    action, message = (
        ("user.reactivate", _("The account is active again."))
        if active
        else ("user.deactivate", _("The account is deactivated; its sessions have ended."))
    )
    _done(action, user, message)
    return redirect(url_for("users.index"))


@bp.route("/users/<int:user_id>/password", methods=["POST"])
@require_role("admin")
def reset_password(user_id: int) -> Any:
    """Set a new password for a staff member; their sessions end."""
    user = _user(user_id)
    try:
        staff.reset_password(db_session(), user, request.form.get("password", ""))
    except AccountError as exc:
        return _problem(exc, "users.index")
    _done("user.password_reset", user, _("The password was set; the user's sessions have ended."))
    return _stay_logged_in_if_me(user, url_for("users.index"))


@bp.route("/users/<int:user_id>/logout", methods=["POST"])
@require_role("admin")
def logout_user_everywhere(user_id: int) -> Any:
    """End every session of a staff member."""
    user = _user(user_id)
    staff.end_sessions(user)
    _done("user.logout_everywhere", user, _("Every session of this user has ended."))
    if user.id == current_user_id():
        logout_user()
        return redirect(url_for("auth.login"))
    return redirect(url_for("users.index"))


def _stay_logged_in_if_me(user: User, target: str) -> Any:
    # Changing one's own password ends the other sessions, not the one in use.
    if user.id == current_user_id():
        login_user(LoginUser(user))
    return redirect(target)


# --- one's own account --------------------------------------------------------------------


@bp.route("/account")
@require_role("viewer")
def account() -> Any:
    """Own account: change password, log out everywhere, API tokens."""
    return render_template("users/account.html", user=_me())


@bp.route("/account/password", methods=["POST"])
@require_role("viewer")
def change_password() -> Any:
    """Change one's own password (the current one is needed)."""
    me = _me()
    form = request.form
    if form.get("new_password", "") != form.get("confirm_password", ""):
        flash(_("The two new passwords differ."), "error")
        return redirect(url_for("users.account"))
    try:
        staff.change_own_password(
            db_session(), me, form.get("current_password", ""), form.get("new_password", "")
        )
    except AccountError as exc:
        return _problem(exc, "users.account")
    _done("user.password_change", me, _("Your password was changed; other sessions have ended."))
    return _stay_logged_in_if_me(me, url_for("users.account"))


@bp.route("/account/logout-everywhere", methods=["POST"])
@require_role("viewer")
def logout_everywhere() -> Any:
    """End every session of one's own, this one included."""
    me = _me()
    staff.end_sessions(me)
    _done("user.logout_everywhere", me, _("Every session has ended. Please log in again."))
    logout_user()
    return redirect(url_for("auth.login"))


@bp.route("/account/tokens")
@require_role("viewer")
def tokens() -> Any:
    """Own API tokens: prefix, scopes, last use; the form to make one."""
    me = _me()
    return render_template(
        "users/tokens.html",
        tokens=staff.list_tokens(db_session(), me.id),
        scopes=staff.TOKEN_SCOPES,
        me=me,
        new_secret=None,
    )


@bp.route("/account/tokens", methods=["POST"])
@require_role("viewer")
def token_create() -> Any:
    """Make a token and show its secret this once (it is stored only as a hash)."""
    me = _me()
    session = db_session()
    try:
        scopes = staff.scopes_for(me, request.form.get("scopes", "read"))
    except AccountError as exc:
        return _problem(exc, "users.tokens")
    name = request.form.get("name", "").strip()[:200]
    new = create_api_token(session, me, name=name, scopes=scopes)
    audit(session, me.id, "token.create", "api_token", new.token.id, request.remote_addr)
    session.commit()
    resp = render_template(
        "users/tokens.html",
        tokens=staff.list_tokens(session, me.id),
        scopes=staff.TOKEN_SCOPES,
        me=me,
        new_secret=new.secret,
    )
    # The secret is in this page only: no caching anywhere.
    return resp, 201, {"Cache-Control": "no-store"}


@bp.route("/account/tokens/<int:token_id>/revoke", methods=["POST"])
@require_role("viewer")
def token_revoke(token_id: int) -> Any:
    """Revoke one of one's own tokens; the API refuses it from now on."""
    me = _me()
    try:
        staff.revoke_token(db_session(), me.id, token_id)
    except AccountError:
        abort(404)
    session = db_session()
    audit(session, me.id, "token.revoke", "api_token", token_id, request.remote_addr)
    session.commit()
    flash(_("The token is revoked."), "info")
    return redirect(url_for("users.tokens"))
