"""Who may do what in the admin: admin > editor > viewer."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar

from flask import abort
from flask_login import current_user

F = TypeVar("F", bound=Callable[..., Any])

RANK = {"viewer": 1, "editor": 2, "admin": 3}
# The pages an admin who must set up two-factor login may still open (everything else
# sends them to the first of these).
TWO_FACTOR_SETUP_ENDPOINTS = (
    "users.two_factor",
    "users.two_factor_start",
    "users.two_factor_confirm",
)


def has_role(minimum: str) -> bool:
    """Whether the logged-in user has at least the ``minimum`` role."""
    if not current_user.is_authenticated:
        return False
    return RANK.get(getattr(current_user, "role", ""), 0) >= RANK[minimum]


def require_role(minimum: str) -> Callable[[F], F]:
    """Decorate a view: 403 unless the user has at least ``minimum`` (viewer, editor,
    admin). Login itself is enforced by the blueprint."""

    def decorator(view: F) -> F:
        @wraps(view)
        def wrapped(*args: Any, **kwargs: Any) -> Any:
            if not has_role(minimum):
                abort(403)
            return view(*args, **kwargs)

        return wrapped  # type: ignore[return-value]

    return decorator


def current_user_id() -> int | None:
    """The logged-in staff member's id (for the audit log), or None."""
    return getattr(current_user, "user_id", None) if current_user.is_authenticated else None


def staff_blueprint(name: str, import_name: str, url_prefix: str | None = None) -> Any:
    """A blueprint whose every page needs a logged-in staff member (any role); add
    ``@require_role(...)`` on views that need more. An admin who must set up two-factor
    login is sent to do that first."""
    from flask import Blueprint, redirect, request, url_for
    from flask_login import login_required

    bp = Blueprint(name, import_name, url_prefix=url_prefix)

    @bp.before_request
    @login_required
    def _require_login() -> Any:
        if (
            getattr(current_user, "must_set_up_two_factor", False)
            and request.endpoint not in TWO_FACTOR_SETUP_ENDPOINTS
        ):
            return redirect(url_for(TWO_FACTOR_SETUP_ENDPOINTS[0]))
        return None

    return bp
