"""``CompiledEmail.fill_wire``: the octets a message carries, made per chunk, must be exactly
what encoding and normalising ``fill``'s text would give, whatever the content."""

from __future__ import annotations

import pytest

from service.issues.render_compiled import CompiledEmail, MissingSlotError, _Part
from service.mail.message_bodies import canonical_text

VALUES = {
    "name": "张三",
    "unsubscribe_url": "https://n.example.org/unsubscribe/abc.def",
    "preferences_url": "https://n.example.org/preferences/x<y>&z",
}


def compiled(
    html: list[str], html_slots: list[str], text: list[str], text_slots: list[str]
) -> CompiledEmail:
    return CompiledEmail(
        _Part(tuple(html), tuple(html_slots)),
        _Part(tuple(text), tuple(text_slots)),
        name_fallback="会员",
    )


def slow(email: CompiledEmail, values: dict[str, str]) -> tuple[bytes, bytes]:
    html, text = email.fill(values)
    return canonical_text(html.encode("utf-8")), canonical_text(text.encode("utf-8"))


CASES = {
    "LF lines, a slot at the end": compiled(
        ["<p>您好，", '</p>\n<a href="', '">退订</a>\n'],
        ["name", "unsubscribe_url"],
        ["您好，", "\n\n退订：", ""],
        ["name", "unsubscribe_url"],
    ),
    "CRLF and LF mixed, no final line break": compiled(
        ["a\r\nb\n", "c"], ["name"], ["x\r\n", "\ny"], ["preferences_url"]
    ),
    "a bare CR before a slot (whole-text path)": compiled(
        ["line\r", "\nnext"], ["name"], ["t\r", "\r\n"], ["name"]
    ),
    "line breaks next to an empty name": compiled(
        ["a\n", "\nb\n"], ["name"], ["\n", "\n"], ["name"]
    ),
}


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("name", ["张三", "", "名\r\n字", "x & <y>"])
def test_fill_wire_gives_the_canonical_octets_of_fill(case: str, name: str) -> None:
    email = CASES[case]
    values = {**VALUES, "name": name}
    html, text = email.fill_wire(values)
    assert (html, text) == slow(email, values)
    for part in (html, text):
        assert part.endswith(b"\r\n")
        assert part.count(b"\n") == part.count(b"\r\n") == part.count(b"\r")


def test_a_value_with_a_line_break_takes_the_whole_text_path() -> None:
    email = CASES["LF lines, a slot at the end"]
    values = {**VALUES, "unsubscribe_url": "https://n.example.org/u\r"}
    assert email.fill_wire(values) == slow(email, values)


def test_fill_wire_names_a_missing_slot() -> None:
    email = CASES["LF lines, a slot at the end"]
    with pytest.raises(MissingSlotError, match="unsubscribe_url"):
        email.fill_wire({"name": "x"})
