"""The `email` policy for newsletter messages, and the header value sanitiser.

`NewsletterPolicy` is the one from STANDARDS.md §2.7 item 2: CRLF line endings,
`cte_type="7bit"` (so bodies are base64/QP and stay DKIM-safe through 7-bit relays),
and *no folding* of the List-*, Message-ID and Feedback-ID headers.  CPython folds a
`<URL>` token longer than 77 characters by turning it into RFC 2047 encoded-words
(CPython issue #85725, still open), which destroys the HTTPS URI that RFC 8058
one-click unsubscribe depends on.  Those headers are therefore written verbatim on one
line, after asserting that they are ASCII and fit the RFC 5322 §2.1.1 limit of 998.

The fast per-recipient path in `service.mail.message` does not use this policy at all
(it writes bytes directly); the policy serves `MessageBuilder.build_reference()` and any
code that still builds an `EmailMessage`, such as transactional mail.
"""

from __future__ import annotations

import re
from email.policy import EmailPolicy
from typing import Any

# RFC 5322 §2.1.1: a line MUST be no more than 998 characters, excluding the CRLF.
MAX_LINE_OCTETS = 998

# Headers whose value must never be folded or encoded (STANDARDS §2.7 item 2 and §2.2).
NOFOLD_HEADERS = frozenset(
    {
        "list-id",
        "list-unsubscribe",
        "list-unsubscribe-post",
        "list-help",
        "list-subscribe",
        "list-post",
        "list-owner",
        "list-archive",
        "message-id",
        "feedback-id",
    }
)

# CR and LF end a header line, so either one in a value lets the value author add headers
# of their own.  NUL is rejected too: several MTAs truncate or refuse lines containing it.
_FORBIDDEN_IN_HEADER = re.compile(r"[\r\n\x00]")
# How an already-folded raw value (e.g. from a parsed message) is unfolded.
_FOLD_BREAK = re.compile(r"\r\n|\r|\n")


class HeaderInjectionError(ValueError):
    """A header value contains CR, LF or NUL and would smuggle extra header lines in."""


def sanitize_header_value(name: str, value: str) -> str:
    """Return `value` unchanged if it is safe as the value of header `name`.

    Raises `HeaderInjectionError` when the value contains CR, LF or NUL.  Call this on every
    user-supplied value (subject, display names, reply-to, extra headers) before it goes
    anywhere near a header: a subscriber name like ``"x\\r\\nBcc: victim@example.com"`` must
    fail loudly, not be silently cleaned, so the bad input gets fixed at its source.
    """
    match = _FORBIDDEN_IN_HEADER.search(value)
    if match is not None:
        raise HeaderInjectionError(
            f"{name} header value contains a forbidden {match.group()!r} character at "
            f"position {match.start()} (CR/LF/NUL would allow header injection): {value!r}"
        )
    return value


class NewsletterPolicy(EmailPolicy):
    """`EmailPolicy` that never folds List-*, Message-ID or Feedback-ID headers.

    Values of those headers are stored as the raw string the caller set (so an already
    RFC 2047-encoded List-Id phrase is written as given), must be ASCII, and the whole
    line must fit in `MAX_LINE_OCTETS`.  Every other header behaves as in `EmailPolicy`.
    Any header value set through this policy is checked with `sanitize_header_value`.
    """

    def header_store_parse(self, name: str, value: Any) -> tuple[str, Any]:
        """Reject CR/LF/NUL in set values; keep no-fold header values as raw strings."""
        if isinstance(value, str) and not hasattr(value, "name"):
            sanitize_header_value(name, value)
            if name.lower() in NOFOLD_HEADERS:
                # Storing the raw string (not a parsed header object) is what lets `fold`
                # write exactly what the caller built, e.g. an encoded List-Id phrase.
                self._nofold_line(name, value)
                return (name, value)
        return super().header_store_parse(name, value)

    def fold(self, name: str, value: Any) -> str:
        """Fold a header for text output, leaving no-fold headers on one line."""
        if name.lower() in NOFOLD_HEADERS:
            return self._nofold_line(name, value) + self.linesep
        return str(super().fold(name, value))

    def fold_binary(self, name: str, value: Any) -> bytes:
        """Fold a header for binary output, leaving no-fold headers on one line."""
        if name.lower() in NOFOLD_HEADERS:
            return (self._nofold_line(name, value) + self.linesep).encode("ascii")
        return bytes(super().fold_binary(name, value))

    def _nofold_line(self, name: str, value: Any) -> str:
        """Return ``"Name: value"`` unfolded, asserting ASCII and the 998-octet line limit."""
        # A value parsed from bytes may still carry its original folding; join it back up.
        text = _FOLD_BREAK.sub("", str(value))
        line = f"{name}: {text}"
        if not line.isascii():
            raise ValueError(
                f"{name} must be ASCII (it is never folded or encoded); "
                f"RFC 2047-encode any phrase before setting it: {line!r}"
            )
        if len(line) > MAX_LINE_OCTETS:
            raise ValueError(
                f"{name} line is {len(line)} octets, over the RFC 5322 limit of "
                f"{MAX_LINE_OCTETS}; use a shorter URL or identifier"
            )
        return line


#: The policy for serialising newsletter messages: CRLF, 7bit CTE (base64 bodies), no
#: folding of the list headers.
POLICY = NewsletterPolicy(linesep="\r\n", cte_type="7bit")

#: The same with raw UTF-8 headers (RFC 6532), only for an SMTPUTF8 transaction
#: (STANDARDS §2.6, §2.7 item 9).  Bodies stay base64 so DKIM survives any relay.
SMTPUTF8_POLICY = POLICY.clone(utf8=True)
