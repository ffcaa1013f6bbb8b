"""The sender domain's DNS records as receiving servers read them: SPF, DKIM keys, DMARC;
and the MX hosts of a recipient domain (which mailbox provider runs it, for the report).

A lookup goes through a ``TxtResolver`` (a name in, its TXT strings out) or an
``MxResolver`` (a name in, its ``(preference, host)`` pairs out), so a check can be given
a fake one; ``dns_resolver`` and ``mx_resolver`` are the real ones (dnspython, short
timeouts). A resolver raises ``DnsUnavailable`` when no server answered at all: a check
then says "not checked", never "fine", because nothing was seen.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

# Seconds for a whole lookup (all servers, all tries): the confirm page waits for it.
DNS_LIFETIME_SECONDS = 3.0
# A public name that always has an SPF record: a resolver that knows none for it does not
# see the public DNS (a sandbox or an intranet answering "no such name" to everything).
CANARY_DOMAIN = "gmail.com"

TxtResolver = Callable[[str], list[str]]
MxResolver = Callable[[str], list[tuple[int, str]]]


class DnsUnavailable(OSError):
    """No DNS server answered (no network, no resolver configured)."""


def _records(name: str, kind: str, lifetime: float) -> list[Any]:
    """The records of type ``kind`` at ``name`` ([] when none or no such name). Raises
    ``DnsUnavailable`` when no server answers within ``lifetime`` seconds."""
    import dns.exception
    import dns.resolver

    try:
        return list(dns.resolver.resolve(name, kind, lifetime=lifetime))
    except (dns.resolver.NXDOMAIN, dns.resolver.NoAnswer):
        return []
    except (dns.exception.DNSException, OSError) as exc:  # timeout, no servers, SERVFAIL
        raise DnsUnavailable(str(exc) or type(exc).__name__) from exc


def dns_resolver(name: str) -> list[str]:
    """The TXT strings at ``name`` ([] when it has none or does not exist), each record's
    chunks joined. Raises ``DnsUnavailable`` when no server answers."""
    return [
        b"".join(record.strings).decode("utf-8", "replace")
        for record in _records(name, "TXT", DNS_LIFETIME_SECONDS)
    ]


def mx_resolver(name: str, lifetime: float = DNS_LIFETIME_SECONDS) -> list[tuple[int, str]]:
    """The MX records of ``name`` (an A-label) as ``(preference, host)``, host lower-case
    without its final dot ([] when none or no such name). Raises ``DnsUnavailable``."""
    return [
        (int(r.preference), r.exchange.to_text().rstrip(".").lower())
        for r in _records(name, "MX", lifetime)
    ]


class PublicDns:
    """A resolver trusted only once it shows it sees the public DNS (the canary's SPF
    record); until then every lookup raises ``DnsUnavailable``. One per preflight."""

    def __init__(self, resolve: TxtResolver = dns_resolver, canary: str = CANARY_DOMAIN) -> None:
        self._resolve = resolve
        self._canary = canary
        self._sees_public: bool | None = None

    def __call__(self, name: str) -> list[str]:
        """The TXT strings at ``name``, as ``dns_resolver`` gives them."""
        if self._sees_public is None:
            self._sees_public = bool(spf_records(self._resolve, self._canary))
        if not self._sees_public:
            raise DnsUnavailable(f"the DNS server knows no public name ({self._canary})")
        return self._resolve(name)


def tags(record: str) -> dict[str, str]:
    """The ``name=value`` tags of a DKIM or DMARC record (names lower-cased)."""
    found = {}
    for part in record.split(";"):
        name, sep, value = part.partition("=")
        if sep:
            found[name.strip().lower()] = "".join(value.split())
    return found


def spf_records(resolve: TxtResolver, domain: str) -> list[str]:
    """The SPF records of ``domain`` (more than one is an error for receivers)."""
    return [r for r in resolve(domain) if r.lower().split(" ", 1)[0] == "v=spf1"]


def dmarc_record(resolve: TxtResolver, domain: str) -> tuple[str, str] | None:
    """``(where, record)`` of the DMARC policy that covers ``domain``: its own, else the
    one of a parent domain (an approximation of the organisational domain)."""
    labels = domain.rstrip(".").lower().split(".")
    for start in range(len(labels) - 1):
        where = ".".join(labels[start:])
        found = [r for r in resolve(f"_dmarc.{where}") if r.lower().startswith("v=dmarc1")]
        if found:
            return where, found[0]
    return None


def aligned(domain: str, other: str) -> bool:
    """Relaxed alignment (RFC 7489 §3.1): the same domain, or one a subdomain of the other."""
    a, b = domain.rstrip(".").lower(), other.rstrip(".").lower()
    return a == b or a.endswith(f".{b}") or b.endswith(f".{a}")
