"""TOTP codes as RFC 6238 computes them, taken once each, a step either side; recovery
codes that read well and compare loosely."""

from __future__ import annotations

import base64

import pytest

from service.accounts import two_factor as tf
from service.model import Role, User, utcnow

# RFC 6238 appendix B: the SHA-1 seed is the ASCII string "12345678901234567890"; the
# vectors are 8-digit codes, of which a 6-digit app shows the last six.
RFC_6238_SECRET = base64.b32encode(b"12345678901234567890").decode()
RFC_6238_SHA1 = {
    59: "94287082",
    1111111109: "07081804",
    1111111111: "14050471",
    1234567890: "89005924",
    2000000000: "69279037",
    20000000000: "65353130",
}
NOW = 1_800_000_015.0  # inside a step, away from its edges


def _user(secret: str = RFC_6238_SECRET) -> User:
    return User(
        email="a@example.org",
        role=Role.ADMIN,
        totp_secret=secret,
        totp_enabled_at=utcnow(),
        session_version=1,
    )


@pytest.mark.parametrize(("at", "code"), sorted(RFC_6238_SHA1.items()))
def test_codes_match_the_rfc_6238_test_vectors(at: int, code: str) -> None:
    assert tf.totp_code(RFC_6238_SECRET, at) == code[-tf.TOTP_DIGITS :]


def test_the_code_of_now_is_taken_once_and_never_again() -> None:
    user = _user()
    code = tf.totp_code(RFC_6238_SECRET, NOW)
    assert tf._accept_totp(user, code, now=NOW)
    assert not tf._accept_totp(user, code, now=NOW)
    assert not tf._accept_totp(user, code, now=NOW + 5)


def test_after_a_code_is_taken_an_older_one_is_refused() -> None:
    user = _user()
    assert tf._accept_totp(user, tf.totp_code(RFC_6238_SECRET, NOW), now=NOW)
    earlier = tf.totp_code(RFC_6238_SECRET, NOW - tf.TOTP_INTERVAL)
    assert not tf._accept_totp(user, earlier, now=NOW)


def test_a_clock_one_step_off_either_way_still_works_but_two_steps_do_not() -> None:
    for offset in (-1, 1):
        code = tf.totp_code(RFC_6238_SECRET, NOW + offset * tf.TOTP_INTERVAL)
        assert tf._accept_totp(_user(), code, now=NOW)
    for offset in (-2, 2):
        code = tf.totp_code(RFC_6238_SECRET, NOW + offset * tf.TOTP_INTERVAL)
        assert not tf._accept_totp(_user(), code, now=NOW)


def test_spaces_in_a_typed_code_are_ignored_and_other_characters_refuse_it() -> None:
    code = tf.totp_code(RFC_6238_SECRET, NOW)
    assert tf._accept_totp(_user(), f" {code[:3]} {code[3:]} ", now=NOW)
    for typed in ("", "12345", "1234567", "12345a", "١٢٣٤٥٦", code + "0"):
        assert not tf._accept_totp(_user(), typed, now=NOW)


def test_a_user_without_a_secret_never_matches() -> None:
    user = _user()
    user.totp_secret = None
    assert not tf._accept_totp(user, "123456", now=NOW)


def test_recovery_codes_are_long_unambiguous_and_compare_without_case_or_dashes() -> None:
    code = tf._new_recovery_code()
    groups = code.split("-")
    assert [len(g) for g in groups] == [tf.RECOVERY_GROUP] * 4
    assert set(code.replace("-", "")) <= set(tf.RECOVERY_ALPHABET)
    assert tf._hash_recovery(code) == tf._hash_recovery(" " + code.upper().replace("-", " "))
    assert tf._hash_recovery(code) != tf._hash_recovery(tf._new_recovery_code())


def test_the_setup_uri_names_the_issuer_the_account_and_the_secret() -> None:
    uri = tf.setup_uri(_user())
    assert uri.startswith("otpauth://totp/Tidings:a%40example.org?")
    assert f"secret={RFC_6238_SECRET}" in uri and "issuer=Tidings" in uri
