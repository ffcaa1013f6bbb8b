"""Addresses: checked without DNS, stored case-folded, IDN-aware, one hash per address."""

from __future__ import annotations

import pytest

from service.mail.addresses import InvalidAddress, email_hash, normalise, wire_form


def test_an_idn_address_keeps_its_readable_form_and_gets_an_a_label_for_the_wire() -> None:
    address = normalise("  Wang@例子.中国 ")
    assert address.email == "wang@例子.中国"
    assert address.email_ascii == "wang@xn--fsqu00a.xn--fiqs8s"
    assert not address.needs_smtputf8


def test_a_non_ascii_local_part_is_accepted_but_flagged_for_smtputf8() -> None:
    assert normalise("张三@example.org").needs_smtputf8


@pytest.mark.parametrize("raw", ["", "no-at-sign", "a@b@c", "x@example.org\r\nBcc: y@z.org"])
def test_bad_addresses_are_refused_with_a_reason(raw: str) -> None:
    with pytest.raises(InvalidAddress) as info:
        normalise(raw)
    assert str(info.value)


def test_the_wire_form_and_the_stored_form_of_one_address_hash_alike() -> None:
    # A bounce names the A-label form; the suppression must still find the subscriber.
    address = normalise("user@例え.jp")
    assert email_hash(address.email_ascii) == email_hash(address.email)
    assert email_hash("X@Example.ORG ") == email_hash("x@example.org")
    assert email_hash("a@example.org") != email_hash("b@example.org")


@pytest.mark.parametrize(
    "stored",
    [
        "li.wei@example.com",
        "a+tag@mail.example.org",
        "x@sub-1.example.co.uk",
        "张三@例子.中国",
        "user@例子.中国",
        "o'brien@example.ie",
        "first.last@xn--fsqu00a.xn--fiqs8s",
    ],
)
def test_the_wire_form_is_what_normalise_gives(stored: str) -> None:
    # The sender's fast path for plain addresses must agree with the validator.
    assert wire_form(stored) == normalise(stored).email_ascii


@pytest.mark.parametrize("bad", ["not an address", "a@@b.c", "a@b", ".a@example.com"])
def test_the_wire_form_of_a_non_address_raises(bad: str) -> None:
    with pytest.raises(InvalidAddress):
        wire_form(bad)
