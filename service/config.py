"""Configuration from ``TIDINGS_*`` environment variables, validated once at start.

Unset means the embedded default for one machine: SQLite and files under the data
directory, the Redis at ``TIDINGS_REDIS_URL`` (``tidings up`` starts a bundled one when
nothing answers there) and the local SMTP capture when no SMTP relay is configured.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from email.headerregistry import Address
from email.utils import parseaddr
from pathlib import Path
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from service import runtime

DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"
DEFAULT_BASE_URL = "http://127.0.0.1:8000"
DEFAULT_FROM = "Tidings <newsletter@localhost>"
DEFAULT_TIMEZONE = "Asia/Shanghai"
MIN_SECRET_KEY_LENGTH = 16
SECRET_KEY_FILE = "secret_key"
MAX_TRUSTED_PROXIES = 5
MIN_METRICS_TOKEN_LENGTH = 16

DATABASE_SCHEMES = ("sqlite", "postgresql", "postgresql+psycopg")
REDIS_SCHEMES = ("redis", "rediss", "unix")
SMTP_SCHEMES = ("smtp", "smtps")


class ConfigError(ValueError):
    """A ``TIDINGS_*`` variable has a value we cannot use; the message names it."""

    def __init__(self, variable: str, problem: str) -> None:
        super().__init__(f"{variable}: {problem}")
        self.variable = variable
        self.problem = problem


@dataclass(frozen=True)
class SmtpTarget:
    """Where mail goes: a relay URL split into its parts."""

    host: str
    port: int
    username: str | None = None
    password: str | None = field(default=None, repr=False)  # never in logs
    implicit_tls: bool = False
    starttls: bool = False

    @property
    def display(self) -> str:
        """The target without credentials, safe to show on a page or in a log."""
        scheme = "smtps" if self.implicit_tls else "smtp"
        tls = "?starttls=1" if self.starttls else ""
        user = f"{self.username}:***@" if self.username else ""
        return f"{scheme}://{user}{self.host}:{self.port}{tls}"


@dataclass(frozen=True)
class Settings:
    """Everything the service reads from its environment, already checked."""

    data_dir: Path
    database_url: str
    redis_url: str
    redis_url_explicit: bool
    smtp: SmtpTarget | None
    smtp_capture: bool
    base_url: str
    secret_key: str = field(repr=False)  # never in logs
    from_name: str
    from_addr: str
    bounce_domain: str
    dkim_domain: str | None
    dkim_selector: str | None
    dkim_key_file: Path | None
    timezone: str
    trusted_proxies: int = 0
    # Whether TIDINGS_BASE_URL was given; else the base URL follows the port served.
    base_url_explicit: bool = False
    # Bearer token /metrics asks for; None leaves /metrics open (scrape on a private network).
    metrics_token: str | None = field(default=None, repr=False)
    # Every TIDINGS_* variable as given (secrets included): never in a repr.
    extra: Mapping[str, str] = field(default_factory=dict, repr=False)
    # A DKIM private key generated in the admin (PEM), when no TIDINGS_DKIM_* is set:
    # ``service.mail.site_settings.effective_settings`` fills it in. Never in a repr.
    dkim_key_pem: str | None = field(default=None, repr=False)

    @property
    def dkim_enabled(self) -> bool:
        """True when a DKIM key is configured (else mail goes out unsigned, with a warning)."""
        return self.dkim_key_file is not None or self.dkim_key_pem is not None

    @property
    def zone(self) -> ZoneInfo:
        """The configured time zone, for dates shown to people and in ``Date:`` headers."""
        return ZoneInfo(self.timezone)

    def with_overrides(self, **changes: object) -> Settings:
        """A copy with some fields replaced (tests and ``tidings up`` use this)."""
        return replace(self, **changes)  # type: ignore[arg-type]


def _get(env: Mapping[str, str], name: str) -> str | None:
    value = env.get(name)
    if value is None or value.strip() == "":
        return None
    return value.strip()


def _check_url(name: str, value: str, schemes: tuple[str, ...]) -> None:
    parts = urlsplit(value)
    if parts.scheme not in schemes:
        allowed = ", ".join(f"{s}://" for s in schemes)
        raise ConfigError(name, f"{value!r} must start with one of {allowed}")


def parse_smtp_url(value: str, name: str = "TIDINGS_SMTP_URL") -> SmtpTarget:
    """Parse ``smtp://user:pass@host:port``, ``smtps://…`` or ``…?starttls=1``."""
    _check_url(name, value, SMTP_SCHEMES)
    parts = urlsplit(value)
    if not parts.hostname:
        raise ConfigError(name, f"{_redact(value)!r} names no host")
    try:
        port = parts.port
    except ValueError as exc:
        raise ConfigError(name, f"the port in {_redact(value)!r} is not a number") from exc
    implicit = parts.scheme == "smtps"
    query = dict(p.split("=", 1) for p in parts.query.split("&") if "=" in p)
    starttls = query.get("starttls", "0").lower() in ("1", "true", "yes")
    if implicit and starttls:
        raise ConfigError(name, "smtps:// already uses TLS; drop ?starttls=1")
    from urllib.parse import unquote

    return SmtpTarget(
        host=parts.hostname,
        port=port or (465 if implicit else 25),
        username=unquote(parts.username) if parts.username else None,
        password=unquote(parts.password) if parts.password else None,
        implicit_tls=implicit,
        starttls=starttls,
    )


def _redact(url: str) -> str:
    parts = urlsplit(url)
    if parts.password:
        return url.replace(f":{parts.password}@", ":***@")
    return url


def _parse_from(value: str) -> tuple[str, str]:
    name, addr = parseaddr(value)
    if "@" not in addr or any(c in value for c in "\r\n"):
        raise ConfigError(
            "TIDINGS_FROM", f"{value!r} is not an address like 'Name <news@example.org>'"
        )
    local, _, domain = addr.rpartition("@")
    try:
        Address(display_name=name, username=local, domain=domain)
    except (ValueError, IndexError) as exc:
        raise ConfigError("TIDINGS_FROM", f"{value!r} is not a valid address: {exc}") from exc
    return name, addr


def _secret_key(env: Mapping[str, str], data_dir: Path) -> str:
    value = _get(env, "TIDINGS_SECRET_KEY")
    if value is not None:
        if len(value) < MIN_SECRET_KEY_LENGTH:
            raise ConfigError(
                "TIDINGS_SECRET_KEY", f"must be at least {MIN_SECRET_KEY_LENGTH} characters long"
            )
        return value
    # Embedded default: a random key kept in the data directory, so sessions and
    # tokens survive a restart without the newcomer having to invent one.
    path = data_dir / SECRET_KEY_FILE
    if path.exists():
        return path.read_text().strip()
    data_dir.mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(32)
    path.write_text(key)
    path.chmod(0o600)
    return key


def _dkim(env: Mapping[str, str]) -> tuple[str | None, str | None, Path | None]:
    domain = _get(env, "TIDINGS_DKIM_DOMAIN")
    selector = _get(env, "TIDINGS_DKIM_SELECTOR")
    key_file = _get(env, "TIDINGS_DKIM_KEY_FILE")
    given = [
        n
        for n, v in (
            ("TIDINGS_DKIM_DOMAIN", domain),
            ("TIDINGS_DKIM_SELECTOR", selector),
            ("TIDINGS_DKIM_KEY_FILE", key_file),
        )
        if v
    ]
    if not given:
        return None, None, None
    if len(given) != 3:
        missing = {"TIDINGS_DKIM_DOMAIN", "TIDINGS_DKIM_SELECTOR", "TIDINGS_DKIM_KEY_FILE"} - set(
            given
        )
        raise ConfigError(sorted(missing)[0], "DKIM needs domain, selector and key file together")
    assert key_file is not None
    path = Path(key_file)
    if not path.is_file():
        raise ConfigError("TIDINGS_DKIM_KEY_FILE", f"{key_file} does not exist or is not a file")
    try:
        from cryptography.hazmat.primitives.serialization import load_pem_private_key

        load_pem_private_key(path.read_bytes(), password=None)
    except (ValueError, TypeError, OSError) as exc:
        raise ConfigError(
            "TIDINGS_DKIM_KEY_FILE", f"{key_file} is not a PEM private key without password ({exc})"
        ) from exc
    return domain, selector, path


def load_settings(env: Mapping[str, str] | None = None) -> Settings:
    """Read and validate the configuration; raise ``ConfigError`` naming a bad variable."""
    env = os.environ if env is None else env
    data_dir = Path(_get(env, "TIDINGS_DATA_DIR") or "./var").expanduser().resolve()
    if data_dir.exists() and not data_dir.is_dir():
        raise ConfigError("TIDINGS_DATA_DIR", f"{data_dir} exists and is not a directory")

    database_url = _get(env, "TIDINGS_DATABASE_URL") or f"sqlite:///{data_dir / 'tidings.db'}"
    _check_url("TIDINGS_DATABASE_URL", database_url, DATABASE_SCHEMES)
    if database_url.startswith("postgresql://"):
        # psycopg 3 is the driver we ship; SQLAlchemy would otherwise look for psycopg2.
        database_url = "postgresql+psycopg://" + database_url[len("postgresql://") :]

    # Variables left unset take what the service running on this machine resolved
    # (``tidings up``'s Redis, capture and port), so a command in another shell meets the
    # same parts; with nothing running, the embedded defaults.
    running = runtime.current(data_dir)
    redis_explicit = _get(env, "TIDINGS_REDIS_URL")
    redis_url = redis_explicit or running.get(runtime.REDIS_URL) or DEFAULT_REDIS_URL
    _check_url("TIDINGS_REDIS_URL", redis_url, REDIS_SCHEMES)

    smtp_value = _get(env, "TIDINGS_SMTP_URL")
    smtp = parse_smtp_url(smtp_value) if smtp_value else None
    capture = (_get(env, "TIDINGS_SMTP_CAPTURE") or "0") == "1" or smtp is None
    if smtp is None and running.get(runtime.SMTP_URL):
        smtp = parse_smtp_url(running[runtime.SMTP_URL], "the running capture")

    base_explicit = _get(env, "TIDINGS_BASE_URL")
    base_url = (base_explicit or running.get(runtime.BASE_URL) or DEFAULT_BASE_URL).rstrip("/")
    _check_url("TIDINGS_BASE_URL", base_url, ("http", "https"))
    if not urlsplit(base_url).hostname:
        raise ConfigError("TIDINGS_BASE_URL", f"{base_url!r} names no host")

    from_name, from_addr = _parse_from(_get(env, "TIDINGS_FROM") or DEFAULT_FROM)
    bounce_domain = _get(env, "TIDINGS_BOUNCE_DOMAIN") or from_addr.rpartition("@")[2]
    if "@" in bounce_domain or " " in bounce_domain:
        raise ConfigError("TIDINGS_BOUNCE_DOMAIN", f"{bounce_domain!r} must be a bare domain")

    timezone = _get(env, "TIDINGS_TIMEZONE") or DEFAULT_TIMEZONE
    try:
        ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ConfigError("TIDINGS_TIMEZONE", f"{timezone!r} is not a known time zone") from exc

    dkim_domain, dkim_selector, dkim_key = _dkim(env)
    proxies = _get(env, "TIDINGS_TRUSTED_PROXIES") or "0"
    if not proxies.isdigit() or int(proxies) > MAX_TRUSTED_PROXIES:
        raise ConfigError(
            "TIDINGS_TRUSTED_PROXIES",
            f"{proxies!r} must be a number of proxies from 0 to {MAX_TRUSTED_PROXIES}",
        )
    metrics_token = _get(env, "TIDINGS_METRICS_TOKEN")
    if metrics_token is not None and len(metrics_token) < MIN_METRICS_TOKEN_LENGTH:
        raise ConfigError(
            "TIDINGS_METRICS_TOKEN", f"must be at least {MIN_METRICS_TOKEN_LENGTH} characters long"
        )
    return Settings(
        data_dir=data_dir,
        database_url=database_url,
        redis_url=redis_url,
        redis_url_explicit=redis_explicit is not None,
        smtp=smtp,
        smtp_capture=capture,
        base_url=base_url,
        secret_key=_secret_key(env, data_dir),
        from_name=from_name,
        from_addr=from_addr,
        bounce_domain=bounce_domain,
        dkim_domain=dkim_domain,
        dkim_selector=dkim_selector,
        dkim_key_file=dkim_key,
        timezone=timezone,
        trusted_proxies=int(proxies),
        base_url_explicit=base_explicit is not None,
        metrics_token=metrics_token,
        extra={k: v for k, v in env.items() if k.startswith("TIDINGS_")},
    )
