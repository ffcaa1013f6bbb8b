"""The first-run checklist of the dashboard: what to set up before the first campaign.

Each step is a question about the running configuration (stored settings over the
environment, as the mail sees them) with the admin page that settles it. The dashboard
shows the list while any step is open.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

from sqlalchemy.orm import Session

from service.config import Settings
from service.mail.from_address import is_local_only
from service.mail.sending_config import SendingConfig, get_sending_config, through_relay
from service.mail.site_settings import SiteSettings, effective_settings, stored_site_settings
from service.mail.transport import signer_for

# Hosts a reader's mail client cannot reach: links in mail must not point at them.
LOCAL_HOSTS = frozenset({"localhost", "127.0.0.1", "::1", "0.0.0.0"})


@dataclass(frozen=True)
class Step:
    """One step: its key (the template's label), whether it is done, the page to fix it."""

    key: str
    done: bool
    endpoint: str


def _public_host(url: str) -> bool:
    host = (urlsplit(url).hostname or "").lower()
    return bool(host) and host not in LOCAL_HOSTS and not is_local_only(f"x@{host}")


def first_run_steps(session: Session, settings: Settings) -> list[Step]:
    """The checklist in the order to work through it."""
    site = stored_site_settings(session)
    return checklist(effective_settings(session, settings, site), site, get_sending_config(session))


def checklist(effective: Settings, site: SiteSettings, sending: SendingConfig) -> list[Step]:
    """The checklist of settings already read (``effective``: as ``effective_settings``
    gives them), for a page that shows them too."""
    return [
        Step("association", bool(site.org_name), "sender.site"),
        Step("from_domain", not is_local_only(effective.from_addr), "sender.site"),
        Step("relay", through_relay(effective, sending), "campaigns.sending_settings"),
        Step("dkim", signer_for(effective) is not None, "sender.dkim"),
        Step("base_url", _public_host(effective.base_url), "sender.site"),
    ]
