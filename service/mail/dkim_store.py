"""The DKIM key generated in the admin: created here, kept in the settings store.

An installation without ``TIDINGS_DKIM_*`` variables can have staff generate a 2048-bit
RSA key on the sender settings page, publish the TXT record it shows and check it. The
key is kept in the ``settings`` table under :data:`DKIM_KEY`, so every worker on every
machine signs with it. It is stored as PEM, **not encrypted**: the service has no
secret-encryption helper, and a key encrypted with TIDINGS_SECRET_KEY would be lost with
it. Database backups therefore hold the private key; an operator who wants it elsewhere
sets TIDINGS_DKIM_KEY_FILE, which always wins.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import UTC, datetime

from sqlalchemy.orm import Session

from service.accounts.settings_store import get_setting, set_setting
from service.config import Settings
from service.errors import DomainError
from service.mail.addresses import InvalidAddress, normalise
from service.mail.dkim_sign import DkimSigner, generate_key

DKIM_KEY = "dkim"
ENV_VARIABLES = ("TIDINGS_DKIM_DOMAIN", "TIDINGS_DKIM_SELECTOR", "TIDINGS_DKIM_KEY_FILE")


class DkimSetupError(DomainError, ValueError):
    """A key cannot be generated for the given domain or selector."""


@dataclass(frozen=True)
class StoredDkim:
    """A generated key, its domain and selector, and when it was made (ISO 8601, UTC)."""

    domain: str
    selector: str
    private_key_pem: str
    created_at: str

    @property
    def signer(self) -> DkimSigner:
        """A signer of this key (it also gives the DNS name and record)."""
        return DkimSigner(self.domain, self.selector, self.private_key_pem)


def env_pinned(settings: Settings) -> bool:
    """Whether a TIDINGS_DKIM_* variable is set (the environment's key wins)."""
    return any(str(settings.extra.get(name, "")).strip() for name in ENV_VARIABLES)


def stored_dkim(session: Session) -> StoredDkim | None:
    """The key generated in the admin, or None."""
    value = get_setting(session, DKIM_KEY)
    if not isinstance(value, dict):
        return None
    try:
        return StoredDkim(**value)
    except TypeError:  # an older or hand-edited value: as if none was made
        return None


def default_selector(now: datetime | None = None) -> str:
    """A selector naming the month the key was made (``news202612``): a new key gets a
    new selector, so the old record can stay published while mail signed with it is
    still in flight."""
    return f"news{(now or datetime.now(UTC)):%Y%m}"


def generate_dkim_key(session: Session, domain: str, selector: str) -> StoredDkim:
    """Generate a 2048-bit key for ``domain`` and ``selector`` and store it (replacing
    any earlier one). Raises ``DkimSetupError`` for a bad domain or selector."""
    domain = domain.strip().rstrip(".").lower()
    selector = selector.strip()
    try:
        normalise(f"postmaster@{domain}")
    except InvalidAddress as exc:
        raise DkimSetupError(
            "dkim.bad_domain", "%(domain)s is not a domain name", domain=domain or "—"
        ) from exc
    pem, _record = generate_key()  # DEFAULT_KEY_BITS: 2048
    stored = StoredDkim(domain, selector, pem.decode("ascii"), datetime.now(UTC).isoformat())
    try:
        stored.signer  # noqa: B018 - checks the selector (and the key) as signing will
    except ValueError as exc:
        raise DkimSetupError(
            "dkim.bad_selector",
            "%(selector)s is not a DKIM selector (letters, digits, - and _)",
            selector=selector or "—",
        ) from exc
    set_setting(session, DKIM_KEY, asdict(stored))
    return stored


def dns_record_line(signer: DkimSigner) -> str:
    """The record to publish, as one line: ``<name> TXT "v=DKIM1; k=rsa; p=…"``."""
    return f'{signer.dns_name} TXT "{signer.dns_txt_value}"'
