"""The links of a rendered message and whether they answer (a part of the preflight).

Links to this service are asked of the service itself through an injected ``Fetch`` (the
admin passes its Flask test client, the command line fetches them at the base URL), the
others on the web with a short timeout. Tracked links are not fetched: a fetch of ``/c/`` or
``/o/`` would count as a click or an open of the recipient the message was rendered for.
They are read the way those views read them (the token, then the stored target), and the
target is checked instead.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from email.message import EmailMessage
from html.parser import HTMLParser
from urllib.parse import urldefrag, urlsplit

from sqlalchemy.orm import Session

from service.config import Settings
from service.events.tracking import click_target
from service.issues import publishing
from service.model import Issue
from service.tokens import CLICK, OPEN, read_token

# Seconds to connect and to read the first byte of a link on the web.
FETCH_TIMEOUT_SECONDS = 3.0
FETCH_THREADS = 8
# A status from here on is a broken link (redirects are followed).
BROKEN_FROM = 400

Fetch = Callable[[str], int]


class Unreachable(OSError):
    """Nothing answered at the link's address (no route, no DNS, timeout, refused)."""


def http_fetch(url: str) -> int:
    """The status ``url`` answers with on the web (redirects followed, body not read).

    Raises ``Unreachable`` when nothing answers within the timeout."""
    import requests

    try:
        with requests.get(
            url,
            timeout=FETCH_TIMEOUT_SECONDS,
            stream=True,
            allow_redirects=True,
            headers={"User-Agent": "Tidings preflight"},
        ) as response:
            return int(response.status_code)
    except requests.RequestException as exc:
        raise Unreachable(type(exc).__name__) from exc


class _LinkParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.urls: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        wanted = {"a": "href", "img": "src"}.get(tag)
        for name, value in attrs:
            if name == wanted and value:
                self.urls.append(value.strip())


def message_links(message: EmailMessage) -> list[str]:
    """Every http(s) link of the message (HTML links and images, the List-Unsubscribe
    URL), each once (fragments cut: they name a place on the same page), in order."""
    parser = _LinkParser()
    html = message.get_body(("html",))
    if html is not None:
        parser.feed(str(html.get_content()))
    header = str(message.get("List-Unsubscribe", ""))
    urls = parser.urls + [u.strip(" <>") for u in header.split(",")]
    found = (urldefrag(u).url for u in urls if u.lower().startswith(("http://", "https://")))
    return list(dict.fromkeys(found))


@dataclass(frozen=True)
class LinkResult:
    """One link and what it answered: a status, or ``error`` when nothing answered."""

    url: str
    status: int | None = None
    error: str | None = None

    @property
    def broken(self) -> bool:
        """It answered, with an error status."""
        return self.status is not None and self.status >= BROKEN_FROM

    @property
    def line(self) -> str:
        """``url → 404``, or the URL alone when nothing answered: the line goes into a
        sentence in the reader's language, where an exception's English name would not
        belong (the sentence says that nothing answered; ``error`` is for the logs)."""
        return self.url if self.status is None else f"{self.url} → {self.status}"


@dataclass(frozen=True)
class LinkReport:
    """The links of a message, split into this service's own and the others."""

    own: list[LinkResult]
    external: list[LinkResult]


def is_own(settings: Settings, url: str) -> bool:
    """Whether ``url`` points at this service (its base URL)."""
    return url == settings.base_url or url.startswith(settings.base_url.rstrip("/") + "/")


def _path(settings: Settings, url: str) -> str:
    return url[len(settings.base_url.rstrip("/")) :] or "/"


def _tracked(session: Session, settings: Settings, url: str) -> LinkResult | str | None:
    """A tracked link read as its view reads it: the target URL of a valid click link, a
    result for a pixel or a dead link, None for a link that is not tracked."""
    path = urlsplit(_path(settings, url)).path
    kind, _, token = path.lstrip("/").partition("/")
    if kind == "o":
        ok = read_token(settings.secret_key, OPEN, token, 1) is not None
        return LinkResult(url, 200 if ok else 404)
    if kind != "c":
        return None
    ids = read_token(settings.secret_key, CLICK, token, 2)
    target = click_target(session, ids[0], ids[1]) if ids is not None else None
    return target if target is not None else LinkResult(url, 404)


def _unpublished_slug(session: Session, settings: Settings, url: str) -> str | None:
    """The slug of an archive link whose issue is not published yet (starting publishes
    it); None for any other link."""
    parts = urlsplit(_path(settings, url)).path.strip("/").split("/")
    if len(parts) < 2 or parts[0] != "archive":
        return None
    from sqlalchemy import select

    issue = session.scalar(select(Issue).where(Issue.slug == parts[1]))
    return parts[1] if issue is not None and issue.published_at is None else None


def own_url_to_fetch(session: Session, settings: Settings, url: str) -> str:
    """The URL that shows whether an own link will work once sent: the link itself, or
    for an archive page published only when sending starts, the page with its preview
    token (what it will show then)."""
    url = urldefrag(url).url  # a fragment never reaches the server
    slug = _unpublished_slug(session, settings, url)
    if slug is None:
        return url
    joiner = "&" if "?" in url else "?"
    return f"{url}{joiner}preview={publishing.preview_token(settings.secret_key, slug)}"


def fetched(fetch: Fetch, url: str, shown: str | None = None) -> LinkResult:
    """What ``fetch`` got for ``url`` (reported as ``shown``, default the URL itself)."""
    try:
        return LinkResult(shown or url, fetch(url))
    except OSError as exc:
        return LinkResult(shown or url, error=str(exc) or type(exc).__name__)


def check_links(
    session: Session,
    settings: Settings,
    urls: Sequence[str],
    fetch_own: Fetch,
    fetch_external: Fetch | None,
) -> LinkReport:
    """Ask each link (own ones of the service, others of the web, in parallel; with no
    ``fetch_external`` the others are not asked and ``external`` is empty)."""
    own: list[LinkResult] = []
    external: list[str] = []
    for url in urls:
        if not is_own(settings, url):
            external.append(url)
            continue
        tracked = _tracked(session, settings, url)
        if isinstance(tracked, LinkResult):
            own.append(tracked)
        elif tracked is not None:  # a click link: its target is what the reader reaches
            own.append(LinkResult(url, 200))
            if is_own(settings, tracked):
                own.append(
                    fetched(fetch_own, own_url_to_fetch(session, settings, tracked), tracked)
                )
            else:
                external.append(tracked)
        else:
            own.append(fetched(fetch_own, own_url_to_fetch(session, settings, url), url))
    if fetch_external is None:
        return LinkReport(own=own, external=[])
    ask = fetch_external
    unique = list(dict.fromkeys(external))
    with ThreadPoolExecutor(max_workers=FETCH_THREADS) as pool:
        results = list(pool.map(lambda u: fetched(ask, u), unique))
    return LinkReport(own=own, external=results)
