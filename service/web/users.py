"""Staff accounts in the admin: the users list (admins), one's own account, two-factor
login and API tokens."""

from __future__ import annotations

from typing import Any

import segno
from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, logout_user

from service.accounts import two_factor as tf
from service.accounts.audit import audit
from service.accounts.users import AccountError, create_api_token, create_user, parse_expiry
from service.errors import DomainError
from service.model import Role, User, utcnow
from service.ops import staff
from service.web.auth import start_login
from service.web.context import db_session, settings
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


def _problem(exc: DomainError, endpoint: str, **values: Any) -> Any:
    db_session().rollback()
    flash_error(exc)
    return redirect(url_for(endpoint, **values))


# --- the users list (admins) -------------------------------------------------------------


@bp.route("/users")
@require_role("admin")
def index() -> Any:
    """Every staff member with role, state and last login; forms to change them."""
    session = db_session()
    return render_template(
        "users/index.html",
        users=staff.list_users(session),
        roles=ROLES,
        me=current_user_id(),
        admins_must_use_two_factor=tf.admins_must_use(session),
        two_factor_on=tf.is_enabled,
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
    """Give a staff member another role; their sessions end (they log in again under it)."""
    user = _user(user_id)
    before = user.role
    try:
        staff.change_role(db_session(), user, request.form.get("role", ""))
    except AccountError as exc:
        return _problem(exc, "users.index")
    if user.role == before:
        return redirect(url_for("users.index"))
    _done(
        "user.role",
        user,
        _("The role was changed; the user's sessions have ended."),
        role=user.role,
    )
    if user.id == current_user_id():
        # One's own role: this browser gets a new session under the new role, on the
        # dashboard (the users page is for admins only).
        return _stay_logged_in_if_me(user, url_for("admin.dashboard"))
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
    staff.end_sessions(db_session(), user)
    _done("user.logout_everywhere", user, _("Every session of this user has ended."))
    if user.id == current_user_id():
        logout_user()
        return redirect(url_for("auth.login"))
    return redirect(url_for("users.index"))


def _stay_logged_in_if_me(user: User, target: str) -> Any:
    # Changing one's own password ends every session; this browser gets a new one.
    if user.id == current_user_id():
        start_login(user)
    return redirect(target)


# --- one's own account --------------------------------------------------------------------


@bp.route("/account")
@require_role("viewer")
def account() -> Any:
    """Own account: change password, two-factor login, log out everywhere, API tokens."""
    me = _me()
    return render_template(
        "users/account.html",
        user=me,
        two_factor_on=tf.is_enabled(me),
        codes_left=tf.recovery_codes_left(db_session(), me),
    )


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
    staff.end_sessions(db_session(), me)
    _done("user.logout_everywhere", me, _("Every session has ended. Please log in again."))
    logout_user()
    return redirect(url_for("auth.login"))


def _tokens_page(me: User, new_secret: str | None = None) -> str:
    return render_template(
        "users/tokens.html",
        tokens=staff.list_tokens(db_session(), me.id),
        me=me,
        new_secret=new_secret,
        now=utcnow(),
    )


@bp.route("/account/tokens")
@require_role("viewer")
def tokens() -> Any:
    """Own API tokens: prefix, scope, expiry, last use; the form to make one."""
    return _tokens_page(_me())


@bp.route("/account/tokens", methods=["POST"])
@require_role("viewer")
def token_create() -> Any:
    """Make a token and show its secret this once (it is stored only as a hash)."""
    me = _me()
    session = db_session()
    try:
        scopes = staff.scopes_for(me, request.form.get("scopes", "read"))
        expires_at = parse_expiry(request.form.get("expires", ""), settings().zone)
        name = request.form.get("name", "").strip()[:200]
        new = create_api_token(session, me, name=name, scopes=scopes, expires_at=expires_at)
    except AccountError as exc:
        return _problem(exc, "users.tokens")
    audit(
        session,
        me.id,
        "token.create",
        "api_token",
        new.token.id,
        request.remote_addr,
        scopes=scopes,
        expires_at=expires_at.isoformat() if expires_at else None,
    )
    session.commit()
    # The secret is in this page only: no caching anywhere.
    return _tokens_page(me, new.secret), 201, {"Cache-Control": "no-store"}


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


# --- two-factor login ---------------------------------------------------------------------

QR_SCALE = 4  # pixels per QR module: big enough for a phone camera on any screen


def _qr_data_uri(uri: str) -> str:
    # An SVG data URI (pure Python, no image library); the page shows the key as text too.
    return str(segno.make(uri, error="m").svg_data_uri(scale=QR_SCALE))


def _grouped(secret: str) -> str:
    # Easier to type into a phone in groups of four.
    return " ".join(secret[i : i + 4] for i in range(0, len(secret), 4))


@bp.route("/account/two-factor")
@require_role("viewer")
def two_factor() -> Any:
    """Set up two-factor login: the key (as text, as an ``otpauth://`` URI and as a QR
    code) to give the authenticator app, and the field for its first code."""
    me = _me()
    if tf.is_enabled(me):
        return redirect(url_for("users.account"))
    uri = tf.setup_uri(me) if me.totp_secret else None
    page = render_template(
        "users/two_factor.html",
        me=me,
        key=_grouped(me.totp_secret) if me.totp_secret else None,
        uri=uri,
        qr=_qr_data_uri(uri) if uri else None,
        required=bool(getattr(current_user, "must_set_up_two_factor", False)),
    )
    return page, 200, {"Cache-Control": "no-store"}  # the key is on this page


@bp.route("/account/two-factor", methods=["POST"])
@require_role("viewer")
def two_factor_start() -> Any:
    """Make a new key for the authenticator app (any earlier, unconfirmed one is dropped)."""
    me = _me()
    try:
        tf.begin_setup(db_session(), me)
    except tf.TwoFactorError as exc:
        return _problem(exc, "users.account")
    db_session().commit()
    return redirect(url_for("users.two_factor"))


@bp.route("/account/two-factor/confirm", methods=["POST"])
@require_role("viewer")
def two_factor_confirm() -> Any:
    """Turn two-factor login on with the app's first code; show the recovery codes once."""
    me = _me()
    session = db_session()
    try:
        codes = tf.confirm_setup(session, me, request.form.get("code", ""))
    except tf.TwoFactorError as exc:
        return _problem(exc, "users.two_factor")
    audit(session, me.id, "user.two_factor_on", "user", me.id, request.remote_addr)
    session.commit()
    flash(_("Two-factor login is on. Logins now ask for a code from your app."), "info")
    return _recovery_codes_page(codes)


def _recovery_codes_page(codes: list[str]) -> Any:
    page = render_template("users/recovery_codes.html", codes=codes)
    # The codes are in this page only: no caching anywhere.
    return page, 201, {"Cache-Control": "no-store"}


@bp.route("/account/two-factor/recovery-codes", methods=["POST"])
@require_role("viewer")
def recovery_codes() -> Any:
    """New recovery codes (the old ones stop working); the password is asked again."""
    me = _me()
    session = db_session()
    try:
        staff.check_own_password(me, request.form.get("current_password", ""))
    except AccountError as exc:
        return _problem(exc, "users.account")
    if not tf.is_enabled(me):
        return redirect(url_for("users.account"))
    codes = tf.new_recovery_codes(session, me)
    audit(session, me.id, "user.recovery_codes", "user", me.id, request.remote_addr)
    session.commit()
    return _recovery_codes_page(codes)


@bp.route("/account/two-factor/off", methods=["POST"])
@require_role("viewer")
def two_factor_off() -> Any:
    """Turn one's own two-factor login off; the password is asked again."""
    me = _me()
    try:
        staff.check_own_password(me, request.form.get("current_password", ""))
        tf.turn_off(db_session(), me)
    except (AccountError, tf.TwoFactorError) as exc:
        return _problem(exc, "users.account")
    _done("user.two_factor_off", me, _("Two-factor login is off."))
    return redirect(url_for("users.account"))


@bp.route("/users/two-factor", methods=["POST"])
@require_role("admin")
def two_factor_rule() -> Any:
    """Require two-factor login of every admin (or stop requiring it)."""
    required = request.form.get("required") == "1"
    try:
        tf.set_admins_must_use(db_session(), _me(), required)
    except tf.TwoFactorError as exc:
        return _problem(exc, "users.index")
    message = (
        _("Admins must now use two-factor login; those without are asked to set it up.")
        if required
        else _("Admins no longer must use two-factor login.")
    )
    _done("settings.admin_two_factor", None, message, required=required)
    return redirect(url_for("users.index"))


@bp.route("/users/<int:user_id>/two-factor/off", methods=["POST"])
@require_role("admin")
def two_factor_reset(user_id: int) -> Any:
    """Turn off a staff member's two-factor login (a lost phone and lost codes)."""
    user = _user(user_id)
    tf.reset(db_session(), user)
    _done("user.two_factor_reset", user, _("Two-factor login of this user is off."))
    return redirect(url_for("users.index"))
