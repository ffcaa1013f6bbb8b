"""The checks receivers make of the sender (a part of ``service.campaigns.preflight``): one
SPF record at the MAIL FROM domain, the DKIM key published in DNS, a DMARC policy, the
message's DKIM signature, and the return path aligned with From. A check whose DNS did not
answer fails as a warning saying "not checked".
"""

from __future__ import annotations

from service.campaigns.preflight_result import (
    DKIM_RECORD,
    DKIM_SIGNATURE,
    DMARC,
    MAIL_FROM_ALIGNMENT,
    SPF,
    WARNING,
    Check,
)
from service.config import Settings
from service.errors import Message
from service.mail import dns_records as dns
from service.mail.transport import signer_for


def _not_checked(name: str, exc: BaseException) -> Check:
    return Check(
        name,
        False,
        WARNING,
        Message.of(
            "preflight.dns_not_checked",
            "not checked: no DNS server answered (%(error)s)",
            error=str(exc) or type(exc).__name__,
        ),
    )


def check_spf(resolve: dns.TxtResolver, mail_from_domain: str, level: str) -> Check:
    """One SPF record at the MAIL FROM domain (what receivers check), not open to all."""
    try:
        records = dns.spf_records(resolve, mail_from_domain)
    except dns.DnsUnavailable as exc:
        return _not_checked(SPF, exc)
    if not records:
        return Check(
            SPF,
            False,
            level,
            Message.of(
                "preflight.spf_missing",
                "%(domain)s has no SPF record",
                domain=mail_from_domain,
            ),
        )
    if len(records) > 1:
        return Check(
            SPF,
            False,
            level,
            Message.of(
                "preflight.spf_many",
                "%(domain)s has %(count)s SPF records; receivers treat that as an error",
                domain=mail_from_domain,
                count=len(records),
            ),
        )
    record = records[0]
    if record.lower().split()[-1] in ("+all", "all"):
        return Check(
            SPF,
            False,
            level,
            Message.of(
                "preflight.spf_all",
                "the SPF record of %(domain)s lets any server send: %(record)s",
                domain=mail_from_domain,
                record=record,
            ),
        )
    return Check(
        SPF,
        True,
        level,
        Message.of(
            "preflight.spf_ok", "%(domain)s: %(record)s", domain=mail_from_domain, record=record
        ),
    )


def check_dkim_record(
    resolve: dns.TxtResolver, settings: Settings, from_domain: str, level: str
) -> Check:
    """The configured key is published at its selector, for a domain aligned with From."""
    signer = signer_for(settings)
    if signer is None:
        return Check(
            DKIM_RECORD,
            False,
            level,
            Message.of(
                "preflight.dkim_no_key",
                "no DKIM key is configured: the mail goes out unsigned; generate one under "
                "Settings → DKIM (or set TIDINGS_DKIM_*)",
            ),
        )
    if not dns.aligned(signer.domain, from_domain):
        return Check(
            DKIM_RECORD,
            False,
            level,
            Message.of(
                "preflight.dkim_not_aligned",
                "the DKIM domain %(dkim)s does not align with the From domain %(domain)s",
                dkim=signer.domain,
                domain=from_domain,
            ),
        )
    try:
        published = [dns.tags(r).get("p", "") for r in resolve(signer.dns_name)]
    except dns.DnsUnavailable as exc:
        return _not_checked(DKIM_RECORD, exc)
    wanted = dns.tags(signer.dns_txt_value)["p"]
    if wanted in published:
        return Check(
            DKIM_RECORD,
            True,
            level,
            Message.of(
                "preflight.dkim_record_ok",
                "%(name)s publishes the configured key",
                name=signer.dns_name,
            ),
        )
    params = {"name": signer.dns_name, "value": signer.dns_txt_value}
    detail = (
        Message.of(
            "preflight.dkim_record_other_key",
            "the key published at %(name)s is not the configured key; publish: %(value)s",
            **params,
        )
        if published
        else Message.of(
            "preflight.dkim_record_missing",
            "%(name)s has no DKIM key record; publish: %(value)s",
            **params,
        )
    )
    return Check(DKIM_RECORD, False, level, detail)


def check_dmarc(resolve: dns.TxtResolver, from_domain: str, level: str) -> Check:
    """A DMARC record with a policy covers the From domain."""
    try:
        found = dns.dmarc_record(resolve, from_domain)
    except dns.DnsUnavailable as exc:
        return _not_checked(DMARC, exc)
    if found is None:
        return Check(
            DMARC,
            False,
            level,
            Message.of(
                "preflight.dmarc_missing",
                "%(domain)s has no DMARC record",
                domain=from_domain,
            ),
        )
    where, record = found
    if "p" not in dns.tags(record):
        return Check(
            DMARC,
            False,
            level,
            Message.of(
                "preflight.dmarc_no_policy",
                "the DMARC record of %(domain)s has no p= policy: %(record)s",
                domain=where,
                record=record,
            ),
        )
    return Check(
        DMARC,
        True,
        level,
        Message.of("preflight.dmarc_ok", "%(domain)s: %(record)s", domain=where, record=record),
    )


def check_dkim_signature(resolve: dns.TxtResolver, data: bytes, level: str) -> Check:
    """The message's DKIM signature verifies against the key in DNS."""
    import dkim

    if b"\ndkim-signature:" not in b"\n" + data.split(b"\r\n\r\n", 1)[0].lower():
        return Check(
            DKIM_SIGNATURE,
            False,
            level,
            Message.of("preflight.dkim_unsigned", "the message is not DKIM-signed"),
        )
    unavailable: list[BaseException] = []

    def txt(name: bytes, timeout: int = 5) -> bytes | None:
        try:
            found = resolve(name.decode("ascii").rstrip("."))
        except dns.DnsUnavailable as exc:
            unavailable.append(exc)
            return None
        return found[0].encode() if found else None

    verified = dkim.verify(data, dnsfunc=txt)
    if unavailable:
        return _not_checked(DKIM_SIGNATURE, unavailable[0])
    if not verified:
        return Check(
            DKIM_SIGNATURE,
            False,
            level,
            Message.of(
                "preflight.dkim_bad_signature",
                "the DKIM signature does not verify against the published key",
            ),
        )
    return Check(
        DKIM_SIGNATURE,
        True,
        level,
        Message.of("preflight.dkim_signature_ok", "the DKIM signature verifies"),
    )


def check_alignment(from_domain: str, mail_from_domain: str) -> Check:
    """MAIL FROM (the VERP return path) is in the From domain: NetEase mailboxes (163.com,
    126.com) show "sent on behalf of" (代发) otherwise."""
    params = {"mail_from": mail_from_domain, "domain": from_domain}
    if dns.aligned(from_domain, mail_from_domain):
        detail = Message.of(
            "preflight.aligned",
            "the return path domain %(mail_from)s aligns with the From domain %(domain)s",
            **params,
        )
        return Check(MAIL_FROM_ALIGNMENT, True, WARNING, detail)
    detail = Message.of(
        "preflight.not_aligned",
        "the return path domain %(mail_from)s is not the From domain %(domain)s: NetEase "
        "mailboxes show the message as sent on someone's behalf",
        **params,
    )
    return Check(MAIL_FROM_ALIGNMENT, False, WARNING, detail)
