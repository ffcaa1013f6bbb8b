"""VERP return paths: format, round trip, forgery and case handling."""

from __future__ import annotations

import re

import idna
import pytest

from service.mail.verp import MAX_LOCAL_PART, parse_verp, verp_address

SECRET = b"verp-test-secret"
DOMAIN = "bounces.news.example.org"
LARGEST_BIGINT = 2**63 - 1


@pytest.mark.parametrize("delivery_id", [0, 1, 35, 36, 3456, 10**12, LARGEST_BIGINT])
def test_verp_address_round_trips_to_the_delivery_id(delivery_id: int) -> None:
    address = verp_address(delivery_id, SECRET, DOMAIN)

    assert parse_verp(address, SECRET, DOMAIN) == delivery_id


def test_verp_address_is_lower_case_base36_with_a_base32_hmac() -> None:
    address = verp_address(3456, SECRET, "Bounces.News.Example.org")

    assert re.fullmatch(r"b\+2o0\.[a-z2-7]{10}@bounces\.news\.example\.org", address)


def test_local_part_fits_64_octets_even_for_the_largest_bigint_id() -> None:
    local = verp_address(LARGEST_BIGINT, SECRET, DOMAIN).split("@")[0]

    assert len(local.encode()) <= MAX_LOCAL_PART


def test_ids_that_cannot_fit_or_are_negative_are_rejected() -> None:
    with pytest.raises(ValueError):
        verp_address(36**60, SECRET, DOMAIN)
    with pytest.raises(ValueError):
        verp_address(-1, SECRET, DOMAIN)


def test_parsing_ignores_case_because_mtas_may_change_it() -> None:
    address = verp_address(987654321, SECRET, DOMAIN)

    assert parse_verp(address.upper(), SECRET, DOMAIN) == 987654321
    assert parse_verp(f" <{address.title()}> ", SECRET, DOMAIN.upper()) == 987654321


def test_a_forged_hmac_is_rejected() -> None:
    local, domain = verp_address(3456, SECRET, DOMAIN).split("@")
    code, tag = local[2:].split(".")
    flipped = ("a" if tag[0] != "a" else "b") + tag[1:]

    assert parse_verp(f"b+{code}.{flipped}@{domain}", SECRET, DOMAIN) is None


def test_another_delivery_id_with_a_copied_hmac_is_rejected() -> None:
    tag = verp_address(3456, SECRET, DOMAIN).split("@")[0].split(".")[1]

    assert parse_verp(f"b+2o1.{tag}@{DOMAIN}", SECRET, DOMAIN) is None


def test_a_different_secret_or_domain_is_rejected() -> None:
    address = verp_address(3456, SECRET, DOMAIN)

    assert parse_verp(address, b"other-secret", DOMAIN) is None
    assert parse_verp(address, SECRET, "bounces.other.example.org") is None


@pytest.mark.parametrize(
    "address",
    [
        "",
        "postmaster@bounces.news.example.org",
        "b+@bounces.news.example.org",
        "no-at-sign",
        "b+2o0.abc@bounces.news.example.org",
        "b+2o0.aaaaaaaaaa.x@bounces.news.example.org",
        "b+2o0.aaaaaaaaaa@bounces.news.example.org",
        "b+中.aaaaaaaaaa@bounces.news.example.org",
    ],
)
def test_unknown_or_malformed_addresses_return_none(address: str) -> None:
    assert parse_verp(address, SECRET, DOMAIN) is None


def test_an_idn_bounce_domain_is_written_as_an_a_label() -> None:
    address = verp_address(7, SECRET, "退信.例子.中国")

    assert address.endswith("@" + idna.encode("退信.例子.中国", uts46=True).decode())
    assert address.isascii()
    assert parse_verp(address, SECRET, "退信.例子.中国") == 7
