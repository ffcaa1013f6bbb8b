"""Which mailbox provider holds a recipient domain (issue 17, item 4: the report by provider).

A consumer domain is named by ``CONSUMER_DOMAINS`` (qq.com → Tencent). A company domain
is named by its MX hosts (``MX_PATTERNS``: ``mxbiz1.qq.com`` → Tencent Exmail); one whose
MX matches no known host is its own provider (the domain itself).

MX lookups are slow or impossible (this service often runs where no DNS answers), so:

- a reserved name (``example.com``, ``*.test``, RFC 2606/6761) is never looked up;
- every lookup has a short lifetime, and all of one report share a time budget
  (``LOOKUP_BUDGET_SECONDS``), biggest domains first; what the budget leaves is
  ``UNKNOWN`` on this view and looked up on the next;
- answers are kept in the ``recipient_domains`` table (``RESOLVED_FOR``), and so is "no
  DNS here" (``UNRESOLVED_RETRY``): a database table rather than Redis, because the
  command line reports without Redis, and what was learnt should outlive a restart;
- a resolver that knows no public name (the canary, as for the preflight's
  ``dns_records.PublicDns``) counts as no DNS: an intranet answering "no such name" to
  everything would otherwise make every company its own provider.

Whatever happens, a domain gets a provider and nothing raises: with no DNS, a company
domain is ``UNKNOWN`` (and grouped under its own name by the report).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor, wait
from datetime import timedelta
from fnmatch import fnmatchcase

import idna
from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from service.db import insert_on_conflict
from service.mail.dns_records import CANARY_DOMAIN, DnsUnavailable, MxResolver, mx_resolver
from service.model import RecipientDomain, utcnow

log = logging.getLogger(__name__)

# Seconds one MX lookup may take (all servers, all tries), and all the lookups of one
# report together: a report page waits for them.
MX_LIFETIME_SECONDS = 1.5
LOOKUP_BUDGET_SECONDS = 3.0
LOOKUP_THREADS = 8
# How long an answer is trusted, and how soon a domain no DNS answered for is tried again.
RESOLVED_FOR = timedelta(days=30)
UNRESOLVED_RETRY = timedelta(hours=1)
# How long this process remembers that the default resolver sees no public DNS (saves
# the canary's round trip on every report while a cached "unresolved" row is missing).
NO_DNS_MEMO_SECONDS = 60.0

# The columns a fresh lookup rewrites.
UPDATED_COLUMNS = ("provider", "mx", "resolved", "checked_at")
# A company domain no DNS could tell us about (or not yet): its provider is not known.
UNKNOWN = "unknown"

# Provider codes (the JSON contract) → English names (the admin translates them).
PROVIDERS = {
    "tencent": "Tencent (QQ Mail)",
    "netease": "NetEase",
    "sina": "Sina",
    "sohu": "Sohu",
    "china_mobile": "China Mobile 139",
    "china_telecom": "China Telecom 189",
    "aliyun": "Aliyun Mail",
    "tom": "TOM",
    "gmail": "Gmail",
    "outlook": "Outlook",
    "yahoo": "Yahoo",
    "icloud": "iCloud",
    "tencent_exmail": "Tencent Exmail",
    "netease_qiye": "NetEase Qiye",
    "alibaba_mail": "Alibaba Mail",
    "google_workspace": "Google Workspace",
    "microsoft_365": "Microsoft 365",
    "zoho": "Zoho Mail",
}

# Consumer domains: the provider that runs the mailboxes. Sources: each provider's own
# sign-up or help pages naming the domains it gives addresses under.
CONSUMER_DOMAINS = {
    "qq.com": "tencent",  # QQ Mail (mail.qq.com): every QQ number's address
    "vip.qq.com": "tencent",  # QQ Mail VIP accounts
    "foxmail.com": "tencent",  # Foxmail addresses are QQ Mail accounts since 2013
    "163.com": "netease",  # NetEase free mail (mail.163.com)
    "126.com": "netease",  # NetEase free mail (mail.126.com)
    "yeah.net": "netease",  # NetEase free mail (www.yeah.net)
    "vip.163.com": "netease",  # NetEase VIP mail (vip.163.com)
    "vip.126.com": "netease",  # NetEase VIP mail (vip.126.com)
    "188.com": "netease",  # NetEase VIP mail (www.188.com)
    "sina.com": "sina",  # Sina free mail (mail.sina.com.cn)
    "sina.cn": "sina",  # Sina mobile mail (mail.sina.cn)
    "vip.sina.com": "sina",  # Sina VIP mail (vip.sina.com)
    "sohu.com": "sohu",  # Sohu free mail (mail.sohu.com)
    "139.com": "china_mobile",  # China Mobile's 139 mail (mail.10086.cn)
    "189.cn": "china_telecom",  # China Telecom's 189 mail (webmail.189.cn)
    "aliyun.com": "aliyun",  # Aliyun personal mail (mail.aliyun.com)
    "tom.com": "tom",  # TOM free mail (mail.tom.com)
    "gmail.com": "gmail",  # Google: Gmail
    "googlemail.com": "gmail",  # Google: the same mailboxes under the old UK/DE name
    "outlook.com": "outlook",  # Microsoft: Outlook.com
    "hotmail.com": "outlook",  # Microsoft: Hotmail, now served by Outlook.com
    "live.com": "outlook",  # Microsoft: Windows Live, now Outlook.com
    "msn.com": "outlook",  # Microsoft: MSN, now Outlook.com
    "yahoo.com": "yahoo",  # Yahoo Mail
    "ymail.com": "yahoo",  # Yahoo Mail: alternative domain offered at sign-up
    "icloud.com": "icloud",  # Apple: iCloud Mail
    "me.com": "icloud",  # Apple: the older MobileMe addresses, kept by iCloud Mail
    "mac.com": "icloud",  # Apple: the older .Mac addresses, kept by iCloud Mail
}

# MX hosts of hosted company mail (fnmatch patterns over the lower-case host, no final
# dot) → provider. Sources: each provider's "set up your domain's MX records" help.
MX_PATTERNS = (
    # Tencent Exmail help (exmail.qq.com), "MX 记录": mxbiz1.qq.com (5), mxbiz2.qq.com (10).
    ("mxbiz1.qq.com", "tencent_exmail"),
    ("mxbiz2.qq.com", "tencent_exmail"),
    # Tencent Exmail's older setup text: mx.exmail.qq.com and numbered siblings.
    ("*.exmail.qq.com", "tencent_exmail"),
    # QQ Mail "域名邮箱" (a domain hosted free by QQ Mail): mxdomain.qq.com.
    ("mxdomain.qq.com", "tencent"),
    # NetEase Qiye help (qiye.163.com): mx.qiye.163.com / mx2.qiye.163.com ...
    ("*.qiye.163.com", "netease_qiye"),
    # ... and the newer qiye163mx01.mxmail.netease.com / qiye163mx02.mxmail.netease.com.
    ("qiye163mx*.mxmail.netease.com", "netease_qiye"),
    # NetEase's free company mail (ym.163.com): mx.ym.163.com.
    ("*.ym.163.com", "netease_qiye"),
    # Alibaba Mail (Aliyun help, "阿里邮箱解析记录"): mxw.mxhichina.com, mxn.mxhichina.com ...
    ("*.mxhichina.com", "alibaba_mail"),
    # ... and the current mx1/mx2/mx3.qiye.aliyun.com (help.aliyun.com, "添加解析").
    ("*.qiye.aliyun.com", "alibaba_mail"),
    # Google Workspace admin help, "MX record values": aspmx.l.google.com and
    # alt1-4.aspmx.l.google.com (smtp.google.com since 2023) ...
    ("*.google.com", "google_workspace"),
    # ... and the legacy aspmx2/aspmx3.googlemail.com.
    ("*.googlemail.com", "google_workspace"),
    # Microsoft 365 docs, "Add DNS records": <domain>.mail.protection.outlook.com ...
    ("*.mail.protection.outlook.com", "microsoft_365"),
    # ... and Microsoft 365 operated by 21Vianet in China: *.mail.protection.partner.outlook.cn.
    ("*.mail.protection.partner.outlook.cn", "microsoft_365"),
    # Zoho Mail help, "Configure MX records": mx.zoho.com, mx2.zoho.com (.eu, .com.cn ...).
    ("mx*.zoho.*", "zoho"),
)

# Never looked up: names reserved for documentation and tests (RFC 2606, RFC 6761).
RESERVED_SUFFIXES = (".example", ".test", ".invalid", ".localhost", ".local")
RESERVED_DOMAINS = ("example.com", "example.net", "example.org")


def domain_key(raw: str) -> str:
    """A domain as addresses store it: trimmed, without final dots, lower-case, an IDN as
    its U-label (``XN--FSQ.COM.`` and ``例.com`` are one). Unparseable text is only
    lower-cased: the report shows it as it is."""
    text = raw.strip().rstrip(".").casefold()
    if text.isascii() and "xn--" not in text:
        return text
    try:
        return str(idna.decode(idna.encode(text, uts46=True)))
    except idna.IDNAError:
        return text


def ascii_name(domain: str) -> str:
    """The name the DNS is asked for (an IDN as its A-label)."""
    if domain.isascii():
        return domain
    try:
        return idna.encode(domain, uts46=True).decode("ascii")
    except idna.IDNAError:
        return domain


def consumer_provider(domain: str) -> str | None:
    """The provider of a consumer domain (``domain_key`` form), None for any other."""
    return CONSUMER_DOMAINS.get(domain)


def is_reserved(domain: str) -> bool:
    """A documentation or test name, which has no MX worth asking for."""
    return domain in RESERVED_DOMAINS or domain.endswith(
        RESERVED_SUFFIXES + tuple(f".{d}" for d in RESERVED_DOMAINS)
    )


def provider_of_host(host: str) -> str | None:
    """The provider whose MX pattern ``host`` matches, None when none does."""
    name = host.strip().rstrip(".").lower()
    return next((code for pattern, code in MX_PATTERNS if fnmatchcase(name, pattern)), None)


def provider_of_mx(domain: str, records: Sequence[tuple[int, str]]) -> tuple[str, str]:
    """``(provider, deciding host)`` from a domain's MX records: the most preferred host
    that matches a pattern; the domain itself (and its first host) when none does."""
    hosts = [host for _, host in sorted(records)]
    for host in hosts:
        code = provider_of_host(host)
        if code is not None:
            return code, host
    return domain, hosts[0] if hosts else ""


def classify(domain: str, records: Sequence[tuple[int, str]] = ()) -> str:
    """The provider of ``domain`` (any spelling) given its MX ``records``."""
    key = domain_key(domain)
    return consumer_provider(key) or provider_of_mx(key, records)[0]


# --------------------------------------------------------------------------- lookups


def default_resolver(name: str) -> list[tuple[int, str]]:
    """The real MX lookup with the report's short lifetime."""
    return mx_resolver(name, lifetime=MX_LIFETIME_SECONDS)


class _NoDnsMemo:
    """When the default resolver last proved it sees no public DNS (per process)."""

    lock = threading.Lock()
    until = 0.0


def sees_public_dns(resolve: MxResolver) -> bool:
    """Whether ``resolve`` knows the canary's MX (Google's hosts for gmail.com)."""
    memo = resolve is default_resolver
    if memo and time.monotonic() < _NoDnsMemo.until:
        return False
    try:
        sees = provider_of_mx(CANARY_DOMAIN, resolve(CANARY_DOMAIN))[0] == "google_workspace"
    except DnsUnavailable:
        sees = False
    if memo and not sees:
        with _NoDnsMemo.lock:
            _NoDnsMemo.until = time.monotonic() + NO_DNS_MEMO_SECONDS
    return sees


def providers(
    session: Session,
    domains: Iterable[str],
    resolve: MxResolver = default_resolver,
    budget: float = LOOKUP_BUDGET_SECONDS,
) -> dict[str, str]:
    """The provider of each of ``domains`` (``domain_key`` forms; give the biggest first:
    the lookup budget is spent in that order). Consumer and reserved domains are named
    without DNS, company ones from the cache, else looked up; ``UNKNOWN`` when no DNS
    answered in time. Stores what it learnt in its own transaction."""
    found: dict[str, str] = {}
    company: list[str] = []
    for domain in domains:
        named = consumer_provider(domain) or (domain if is_reserved(domain) else None)
        if named is not None:
            found[domain] = named
        else:
            company.append(domain)
    cached = _cached(session, company)
    found.update(cached)
    missing = [d for d in company if d not in cached]
    if missing:
        learnt = _look_up(missing, resolve, budget)
        _store(session, learnt)
        found.update({d: row.provider or UNKNOWN for d, row in learnt.items()})
    return {**{d: UNKNOWN for d in missing}, **found}


def _cached(session: Session, domains: list[str]) -> dict[str, str]:
    """Stored providers still fresh (an unresolved row counts until its retry is due)."""
    now = utcnow()
    out: dict[str, str] = {}
    for start in range(0, len(domains), 500):  # stay under SQLite's parameter limit
        # Columns, not entities: a report reads thousands of these.
        rows = session.execute(
            select(
                RecipientDomain.domain,
                RecipientDomain.provider,
                RecipientDomain.resolved,
                RecipientDomain.checked_at,
            ).where(RecipientDomain.domain.in_(domains[start : start + 500]))
        )
        for domain, provider, resolved, checked_at in rows:
            if now - checked_at < (RESOLVED_FOR if resolved else UNRESOLVED_RETRY):
                out[domain] = provider if resolved else UNKNOWN
    return out


def _look_up(domains: list[str], resolve: MxResolver, budget: float) -> dict[str, RecipientDomain]:
    """MX lookups for ``domains`` within ``budget`` seconds; the ones answered (or proved
    unanswerable) as rows to store. A domain the budget left out is not in the result."""
    now = utcnow()
    if not sees_public_dns(resolve):
        return {d: RecipientDomain(domain=d, resolved=False, checked_at=now) for d in domains}
    pool = ThreadPoolExecutor(max_workers=LOOKUP_THREADS, thread_name_prefix="mx")
    futures = {pool.submit(resolve, ascii_name(d)): d for d in domains}
    done, _ = wait(futures, timeout=budget)
    pool.shutdown(wait=False, cancel_futures=True)  # a running lookup ends by its lifetime
    out: dict[str, RecipientDomain] = {}
    for future in done:
        domain = futures[future]
        try:
            provider, host = provider_of_mx(domain, future.result())
            out[domain] = RecipientDomain(domain=domain, provider=provider, mx=host, checked_at=now)
        except DnsUnavailable:
            out[domain] = RecipientDomain(domain=domain, resolved=False, checked_at=now)
        except Exception:  # noqa: BLE001 - a broken answer must not break the report
            log.exception("MX lookup of %s failed", domain)
    return out


def _store(session: Session, rows: dict[str, RecipientDomain]) -> None:
    """Upsert what was learnt, in a transaction of its own (the report's session only
    reads). A failed write is logged: the next report looks the domains up again."""
    if not rows:
        return
    values = [
        {
            "domain": r.domain,
            "provider": (r.provider or "")[:255],
            "mx": (r.mx or "")[:255],
            "resolved": r.resolved is not False,
            "checked_at": r.checked_at,
        }
        for r in rows.values()
    ]
    bind = session.get_bind()
    try:
        with Session(bind) as writer:
            for start in range(0, len(values), 500):
                stmt = insert_on_conflict(writer, RecipientDomain).values(
                    values[start : start + 500]
                )
                writer.execute(
                    stmt.on_conflict_do_update(
                        index_elements=["domain"],
                        set_={k: stmt.excluded[k] for k in UPDATED_COLUMNS},
                    )
                )
            writer.commit()
    except SQLAlchemyError:
        log.warning("could not keep the providers of %d domains", len(values), exc_info=True)


def known_providers(session: Session, domains: Iterable[str]) -> dict[str, str]:
    """The provider code of each of ``domains`` (any spelling) that names one without
    DNS: a consumer domain, or a company domain whose cached MX is a known provider's.
    The send path's question (once per batch): it never looks anything up, so a company
    domain not yet in the cache (or on its own server) is left out."""
    keys = {d: domain_key(d) for d in domains}
    found = {d: code for d, k in keys.items() if (code := consumer_provider(k)) is not None}
    company = sorted({k for d, k in keys.items() if d not in found and not is_reserved(k)})
    if company:
        cached = {k: p for k, p in _cached(session, company).items() if p in PROVIDERS}
        found.update({d: cached[k] for d, k in keys.items() if k in cached})
    return found
