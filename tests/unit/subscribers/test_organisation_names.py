"""The folded name that makes two spellings of a company one organisation."""

from __future__ import annotations

import pytest

from service.subscribers.organisation_names import display_name, name_key


@pytest.mark.parametrize(
    "spelling",
    [
        "ＡＢＣ科技有限公司",  # full-width letters
        "abc科技有限公司",  # another case
        "  ABC科技有限公司　",  # half- and full-width spaces around it
    ],
)
def test_spellings_of_one_company_fold_to_one_key(spelling: str) -> None:
    assert name_key(spelling) == "abc科技有限公司"


def test_full_width_digits_and_inner_spaces_fold() -> None:
    assert name_key("大连　第１２３　 贸易公司") == name_key("大连 第123 贸易公司")
    assert name_key("大连　第１２３　 贸易公司") == "大连 第123 贸易公司"


def test_full_width_brackets_fold_to_ascii_in_the_key_only() -> None:
    assert name_key("大连（中国）有限公司") == name_key("大连(中国)有限公司")
    assert display_name(" 大连（中国）  有限公司 ") == "大连（中国） 有限公司"


def test_legal_forms_stay_distinct() -> None:
    assert name_key("大连数贸有限公司") != name_key("大连数贸有限责任公司")


def test_a_blank_name_has_no_key() -> None:
    assert name_key(" \u3000 ") == ""
    assert display_name("\t") == ""
