"""The validator's English refusals are read as our own codes, which have Chinese text."""

from __future__ import annotations

import pytest

from service.mail.address_reasons import REASONS
from service.mail.addresses import InvalidAddress, normalise
from service.web.messages import MESSAGES

# Inputs a person types, and what the installed email-validator makes of them: if an
# upgrade rewords a sentence, its row here fails instead of English leaking into Chinese.
TYPED = {
    "zhang.example.com": "address.no_at",
    "@example.com": "address.nothing_before_at",
    "zhang@": "address.nothing_after_at",
    "zhang@example": "address.domain_without_period",
    "zhang@example.123": "address.bad_top_level_domain",
    "zhang@example.invalid": "address.reserved_domain",
    "zhang..san@example.com": "address.two_periods",
    ".zhang@example.com": "address.starts_with_period",
    "zhang@example.com.": "address.ends_with_period",
    "zhang@example.com-": "address.ends_with_hyphen",
    "zhang.@example.com": "address.period_before_at",
    "zhang@.example.com": "address.period_after_at",
    "zhang@-example.com": "address.hyphen_after_at",
    "zhang@example-.com": "address.period_next_to_hyphen",
    "zhang san@example.com": "address.has_space",
    "zhang\u3000san@example.com": "address.has_space",  # an ideographic space
    "zhang,san@example.com": "address.bad_characters_before_at",
    "zhang@exa_mple.com": "address.bad_characters_after_at",
    "zhang\u200bsan@example.com": "address.unsafe_characters",
    "zhang＠example.com": "address.full_width_at",
    "zhang\ufe6bexample.com": "address.lookalike_at",  # the small commercial at
    "Zhang <zhang@example.com>": "address.with_display_name",
    "<zhang@example.com> x": "address.text_after_address",
    "zhang@" + ("a" * 63 + ".") * 4 + "com": "address.domain_too_long",
    "a" * 300 + "@example.com": "address.too_long",
    '"zhang"@example.com': "address.quoted_local_part",
    "zhang@[192.0.2.1]": "address.ip_literal",
    "zhang@xn--zz.com": "address.bad_idna",
    "zhang@ab--cd.com": "address.double_hyphen",
    "<zhang@example.com": "address.unclosed_angle_bracket",
    "zhang@" + "a" * 64 + ".com": "address.domain_label_too_long",
}


@pytest.mark.parametrize(("typed", "code"), TYPED.items())
def test_a_typed_mistake_gets_our_code_not_the_validator_s_sentence(typed, code):
    with pytest.raises(InvalidAddress) as info:
        normalise(typed)
    assert info.value.code == code, info.value.message


def test_every_row_of_the_table_is_met_by_some_typed_mistake():
    # A row no input reaches is dead: it would only hide a reworded sentence.
    assert sorted({reason.code for reason in REASONS} - set(TYPED.values())) == []


def test_listed_characters_are_shown_as_themselves_or_by_code_point_never_by_english_name():
    with pytest.raises(InvalidAddress) as info:
        normalise("zhang\u200bsan@example.com")
    assert info.value.params == {"detail": "U+200B"}
    with pytest.raises(InvalidAddress) as info:
        normalise("zhang,san@example.com")
    assert info.value.params == {"detail": "“,”"}


def test_every_code_of_the_table_has_a_sentence_in_the_admin_catalogue():
    codes = {reason.code for reason in REASONS} | {"address.has_space"}
    assert not sorted(codes - set(MESSAGES))
