"""Why an address is not valid, as our own message codes rather than the validator's words.

``email_validator`` explains a refusal in one English sentence. Shown as it is, that
sentence sits inside a Chinese one on the admin's import report and on the public
subscribe form (「地址格式不正确（The part after the @-sign is not valid…）」), so the
reasons a person meets are read here into codes with their own, translatable text; only
a reason we do not know keeps the validator's sentence (``address.invalid``).

The table follows email-validator 2.x (pinned in pyproject.toml); each row is a prefix of
its sentence, and the part after the prefix (which characters, for instance) is kept as
``%(detail)s`` where the sentence names something. Every row is one that
``addresses.normalise`` can meet (tests/unit/mail/test_address_reasons.py types an input
for each): "too long before the @-sign" is left out, since the validator says it only
in its ``strict`` mode, which we do not use; were it ever said, "The email address is too
long" reads it.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass

from service.errors import Message


@dataclass(frozen=True)
class Reason:
    """One of the validator's sentences, read as our code and English text."""

    prefix: str
    code: str
    text: str


REASONS: tuple[Reason, ...] = (
    Reason("An email address must have an @-sign.", "address.no_at", "the address has no @"),
    Reason(
        "There must be something before the @-sign.",
        "address.nothing_before_at",
        "nothing comes before the @",
    ),
    Reason(
        "There must be something after the @-sign.",
        "address.nothing_after_at",
        "nothing comes after the @",
    ),
    Reason(
        "The part after the @-sign is not valid. It should have a period.",
        "address.domain_without_period",
        "the part after the @ has no period (a domain such as example.com)",
    ),
    Reason(
        "The part after the @-sign is not valid. It is not within a valid top-level domain.",
        "address.bad_top_level_domain",
        "the part after the @ does not end in a valid top-level domain (.com, .cn …)",
    ),
    Reason(
        "The part after the @-sign is a special-use or reserved name",
        "address.reserved_domain",
        "the part after the @ is a reserved name that cannot receive mail",
    ),
    Reason(
        "An email address cannot have two periods in a row.",
        "address.two_periods",
        "the address has two periods in a row",
    ),
    Reason(
        "An email address cannot start with a period.",
        "address.starts_with_period",
        "the address starts with a period",
    ),
    Reason(
        "An email address cannot end with a period.",
        "address.ends_with_period",
        "the address ends with a period",
    ),
    Reason(
        "An email address cannot have a period immediately before the @-sign.",
        "address.period_before_at",
        "a period comes right before the @",
    ),
    Reason(
        "An email address cannot have a period immediately after the @-sign.",
        "address.period_after_at",
        "a period comes right after the @",
    ),
    Reason(
        "An email address cannot have a hyphen immediately after the @-sign.",
        "address.hyphen_after_at",
        "a hyphen comes right after the @",
    ),
    Reason(
        "An email address cannot end with a hyphen.",
        "address.ends_with_hyphen",
        "the address ends with a hyphen",
    ),
    Reason(
        "An email address cannot have a period and a hyphen next to each other.",
        "address.period_next_to_hyphen",
        "a period and a hyphen stand next to each other",
    ),
    Reason(
        "The email address contains invalid characters before the @-sign: ",
        "address.bad_characters_before_at",
        "characters that an address cannot hold come before the @: %(detail)s",
    ),
    Reason(
        "The part after the @-sign contains invalid characters: ",
        "address.bad_characters_after_at",
        "characters that a domain cannot hold come after the @: %(detail)s",
    ),
    Reason(
        "The email address contains unsafe characters: ",
        "address.unsafe_characters",
        "the address holds invisible or unsafe characters: %(detail)s",
    ),
    Reason(
        'The email address has the "full-width" at-sign',
        "address.full_width_at",
        "the address has a full-width ＠; type it with the half-width @",
    ),
    Reason(
        "The email address has the ",
        "address.lookalike_at",
        "the address has a look-alike of the @ sign; type it with the half-width @",
    ),
    Reason(
        "A display name and angle brackets around the email address are not permitted here.",
        "address.with_display_name",
        "enter the address alone, without a name or angle brackets",
    ),
    Reason(
        "The email address is too long after the @-sign",
        "address.domain_too_long",
        "the part after the @ is too long",
    ),
    Reason("The email address is too long", "address.too_long", "the address is too long"),
    Reason(
        "There can't be anything after the email address.",
        "address.text_after_address",
        "something follows the address; enter one address only",
    ),
    Reason(
        "Quoting the part before the @-sign is not allowed here.",
        "address.quoted_local_part",
        "the part before the @ is in quotes, which is not accepted",
    ),
    Reason(
        "The part after the @-sign is not valid IDNA",
        "address.bad_idna",
        "the part after the @ is not a valid international domain name",
    ),
    Reason(
        "An email address cannot have two letters followed by two dashes",
        "address.double_hyphen",
        "two hyphens follow two letters after the @ or a period (only xn-- may)",
    ),
    Reason(
        "An open angle bracket at the start of the email address",
        "address.unclosed_angle_bracket",
        "the < before the address has no > after it",
    ),
    Reason(
        "After the @-sign, periods cannot be separated by so many characters",
        "address.domain_label_too_long",
        "a part of the domain between periods is longer than 63 characters",
    ),
    Reason(
        "A bracketed IP address after the @-sign is not allowed here.",
        "address.ip_literal",
        "an IP address in brackets after the @ is not accepted; use a domain name",
    ),
)


def reason_of(sentence: str) -> Message:
    """Our message for the validator's ``sentence`` (its own words when we do not know it)."""
    for reason in REASONS:
        if sentence.startswith(reason.prefix):
            if "%(detail)s" not in reason.text:
                return Message.of(reason.code, reason.text)
            characters = _characters(sentence[len(reason.prefix) :])
            if all(c.isspace() for c in characters):
                return Message.of("address.has_space", "the address holds a space")
            return Message.of(reason.code, reason.text, detail=" ".join(map(_shown, characters)))
    return Message.of("address.invalid", "%(reason)s", reason=sentence)


def _characters(listed: str) -> list[str]:
    """The characters the validator lists (``'_', SPACE, U+200B.``): quoted ones as they
    are, the rest by their Unicode name or code point."""
    found = []
    for item in listed.rstrip(".").split(", "):
        item = item.strip()
        if len(item) >= 3 and item[0] == item[-1] and item[0] in "'\"":
            found.append(item[1:-1])
        elif item.startswith("U+"):
            found.append(chr(int(item[2:], 16)))
        else:
            try:
                found.append(unicodedata.lookup(item))
            except KeyError:
                found.append("\ufffd")  # a name this Python does not know
    return found


def _shown(character: str) -> str:
    # A name such as SPACE or ZERO WIDTH SPACE is English; a code point reads the same in
    # every language, and a visible character is clearest as itself.
    return f"“{character}”" if character.isprintable() else f"U+{ord(character):04X}"
