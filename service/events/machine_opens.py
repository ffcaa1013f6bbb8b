"""What fetches the pixel (or follows a link) without a reader: one table of request
patterns, each with its source, what it means and the reason code the report counts.

Only patterns a public source documents are recognised; ``docs/machine-opens.md`` lists
them with their sources and what is known to be missed (QQ Mail's and NetEase Mail's
image proxies have no published request pattern, so they are not in the table). A
request is matched by its ``User-Agent`` alone: no source documents a header pattern
(``Via``, a missing ``Accept-Language``) of these proxies well enough to rely on, and
the pixel does not record other headers.

Every rule names its ``kind``:

- ``privacy-protection``: the mail app fetches every remote image through its relay,
  whether or not the message is read (Apple Mail Privacy Protection);
- ``prefetch-at-delivery``: the mailbox fetches images before anyone opens the message
  (Gmail's prefetch while a session is open);
- ``proxy-on-open``: the mailbox fetches the image through its proxy when the reader
  opens the message; a person probably opened it, but the client and repeat opens are
  hidden (Gmail's image proxy caches the image after the first fetch);
- ``security-scanner``: a gateway or an HTTP library, not a mail client.

The first matching rule wins, so an exact agent (Gmail's prefetch) comes before the
substring rules that might also match it.
"""

from __future__ import annotations

from dataclasses import dataclass

PRIVACY_PROTECTION = "privacy-protection"
PREFETCH_AT_DELIVERY = "prefetch-at-delivery"
PROXY_ON_OPEN = "proxy-on-open"
SECURITY_SCANNER = "security-scanner"
TIMING = "timing"

# A hit this soon after the message left is counted as a machine whatever its agent.
SECONDS_AFTER_SENDING = "seconds-after-sending"
# Codes stored before the proxies were told apart (events recorded until issue 17 item 6);
# the report still counts them under these names.
LEGACY_REASONS = ("image-proxy", "scanner-agent")


@dataclass(frozen=True)
class Rule:
    """One recognised request pattern."""

    reason: str  # the code stored in ``events.detail.machine_reason`` and reported
    kind: str  # one of the kinds above
    hits: tuple[str, ...]  # "open", "click"
    exact: str | None  # the whole User-Agent (stripped), or None
    contains: tuple[str, ...]  # lower-case substrings of the User-Agent, any of them
    sample: str  # the User-Agent as the source documents it
    source: str  # where the pattern is documented
    verified: bool = True  # False: a name without a documented User-Agent string


OPEN = ("open",)
CLICK = ("click",)
BOTH = ("open", "click")

RULES: tuple[Rule, ...] = (
    Rule(
        reason="apple-mpp",
        kind=PRIVACY_PROTECTION,
        hits=OPEN,
        exact="Mozilla/5.0",
        contains=(),
        sample="Mozilla/5.0",
        source="https://github.com/ua-parser/uap-core/issues/509 (the agent is exactly "
        "'Mozilla/5.0' since 2021-09-20); https://help.socketlabs.com/docs/"
        "identifying-apple-mpp-opens-in-notification-api-events (images downloaded "
        "through Apple's proxies when the Mail app fetches new messages)",
    ),
    Rule(
        reason="prefetch:gmail",
        kind=PREFETCH_AT_DELIVERY,
        hits=OPEN,
        exact=(
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
            "Chrome/42.0.2311.135 Safari/537.36 Edge/12.246 Mozilla/5.0"
        ),
        contains=(),
        sample=(
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
            "Chrome/42.0.2311.135 Safari/537.36 Edge/12.246 Mozilla/5.0"
        ),
        source="https://www.sparkpost.com/blog/gmail-prefetching-images/ (2022-01-25: "
        "from Google addresses while the recipient has Gmail open, before the message "
        "is shown)",
    ),
    Rule(
        reason="image-proxy:gmail",
        kind=PROXY_ON_OPEN,
        hits=OPEN,
        exact=None,
        contains=("googleimageproxy", "via ggpht.com"),
        sample="Mozilla/5.0 (Windows NT 5.1; rv:11.0) Gecko Firefox/11.0 (via ggpht.com "
        "GoogleImageProxy)",
        source="https://github.com/browscap/browscap/issues/1108; "
        "https://github.com/faisalman/ua-parser-js/issues/494; fetched on the first "
        "open, then cached: https://wordtothewise.com/2013/12/gmail-deploys-image-proxy-servers/",
    ),
    Rule(
        reason="image-proxy:yahoo",
        kind=PROXY_ON_OPEN,
        hits=OPEN,
        exact=None,
        contains=("yahoomailproxy",),
        sample="YahooMailProxy; https://help.yahoo.com/kb/yahoo-mail-proxy-SLN28749.html",
        source="https://github.com/faisalman/ua-parser-js/issues/494; "
        "https://github.com/matomo-org/device-detector/pull/6736; "
        "https://github.com/JayBizzle/Crawler-Detect/pull/393 (when Yahoo fetches is "
        "not documented)",
    ),
    Rule(
        reason="scanner",
        kind=SECURITY_SCANNER,
        hits=BOTH,
        exact=None,
        contains=(
            "barracuda",
            "mimecast",
            "proofpoint",
            "safelinks",
            "trend micro",
            "symantec",
            "forcepoint",
            "cisco",
            "fortinet",
        ),
        sample="",
        source="vendor names only: gateways prefetch links and pixels at delivery "
        "(https://github.com/mautic/mautic/issues/16263, "
        "https://github.com/mautic/mautic/issues/9798), but no vendor documents its "
        "User-Agent and those reports see browser-like agents",
        verified=False,
    ),
    Rule(
        reason="scanner",
        kind=SECURITY_SCANNER,
        hits=CLICK,
        exact=None,
        contains=(
            "bot",
            "spider",
            "crawler",
            "python-requests",
            "curl/",
            "wget/",
            "go-http-client",
            "java/",
            "headlesschrome",
        ),
        sample="",
        # Clicks only, as before this table: "bot" is also inside phone models' names
        # (an Android mail app's agent names the phone), and a pixel is fetched by them.
        source="generic crawlers and HTTP libraries (their default agents name them); "
        "no mail scanner is documented to send these",
        verified=False,
    ),
)

REASONS: tuple[str, ...] = tuple(dict.fromkeys(r.reason for r in RULES)) + (SECONDS_AFTER_SENDING,)


def agent_rule(hit: str, user_agent: str) -> Rule | None:
    """The first rule matching this open or click's User-Agent, or None."""
    agent = user_agent.strip()
    lowered = agent.lower()
    for rule in RULES:
        if hit not in rule.hits:
            continue
        if rule.exact is not None and agent == rule.exact:
            return rule
        if any(marker in lowered for marker in rule.contains):
            return rule
    return None
