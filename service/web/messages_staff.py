"""The sentences of what staff set up: the sender and site settings, the logo and DKIM key,
staff accounts and two-factor login.

One part of the catalogue of ``service.web.messages`` (its rules hold here)."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_babel.speaklater import LazyString

STAFF_MESSAGES: dict[str, LazyString] = {
    # ---- sender and site settings
    "site.control_chars": _l("Control characters are not allowed."),
    "site.too_long": _l("This is too long."),
    "site.bad_address": _l("An email address like news@example.org."),
    "logo.not_an_image": _l("The file is not a PNG or JPEG image."),
    "logo.too_large": _l("The logo is %(size)s KB; at most %(limit)s KB."),
    "logo.bad_dimensions": _l(
        "The logo is %(width)s × %(height)s pixels; each side must be 1 to %(limit)s."
    ),
    "dkim.bad_domain": _l("%(domain)s is not a domain name."),
    "dkim.bad_selector": _l("%(selector)s is not a DKIM selector (letters, digits, - and _)."),
    "site.bad_base_url": _l("A web address starting with https:// (or http://) and a host name."),
    # ---- staff accounts
    "account.bad_email": _l("“%(email)s” is not an email address."),
    "account.bad_role": _l("The role must be one of %(roles)s."),
    "account.short_password": _l("The password must have at least %(min)s characters."),
    "account.email_taken": _l("A user %(email)s already exists."),
    "account.no_user": _l("There is no such user."),
    "account.last_admin": _l("The last active admin cannot be demoted or deactivated."),
    "account.wrong_password": _l("The current password is not right."),
    "account.bad_scopes": _l("The scopes must be one of %(scopes)s."),
    "account.no_token": _l("There is no such token."),
    "account.expiry_passed": _l("The expiry date must lie in the future."),
    "account.bad_expiry": _l("“%(value)s” is not a date like 2027-01-31."),
    "two_factor.already_on": _l("Two-factor login is already on."),
    "two_factor.not_started": _l("Make a key for your app first."),
    "two_factor.wrong_code": _l(
        "The code is not right. Type the code the app shows now (and check the phone's clock)."
    ),
    "two_factor.required_for_admins": _l(
        "Admins must use two-factor login; an admin can stop requiring it first."
    ),
    "two_factor.set_up_yours_first": _l(
        "Set up two-factor login for your own account before requiring it of admins."
    ),
}
