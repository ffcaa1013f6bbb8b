"""Transactional mail with one button: the double opt-in confirmation, the "manage my
subscription" link. No marketing content (STANDARDS §7.1), not list mail, so no
List-Unsubscribe.

MJML template (``templates/email/transactional/``) compiled with mjml-python, plus a text
part from the same strings. Built as an ``EmailMessage`` with the project's ``POLICY``
(CRLF, base64 bodies, RFC 2047 subject and display names). Sent through
``service.mail.outbound``, the path every message takes.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from pathlib import Path

import mjml
from sqlalchemy.orm import Session

from service.config import Settings
from service.mail.backends import PermanentSendError
from service.mail.message_addresses import encode_address
from service.mail.outbound import send_message
from service.mail.policy import POLICY, SMTPUTF8_POLICY, sanitize_header_value
from service.mail.templating import FONT_STACK, add_preheader, template_env

log = logging.getLogger(__name__)

TEMPLATE_DIR = Path(__file__).resolve().parents[2] / "templates" / "email" / "transactional"
HTML_TEMPLATE = "button.mjml.j2"
TEXT_TEMPLATE = "button.txt.j2"
PRIMARY_COLOR = "#1d4e89"
# The keys a mail's strings must have (``validity`` may be empty).
STRING_KEYS = frozenset(
    {"subject", "preheader", "greeting", "body", "button", "validity", "ignore", "fallback"}
)


@dataclass(frozen=True)
class ReadyMail:
    """A ready message: envelope and bytes for ``outbound.send_message``."""

    mail_from: str
    rcpt: str
    data: bytes
    subject: str


def fill_strings(raw: Mapping[str, str], **values: object) -> dict[str, str]:
    """A mail's strings in one language with ``values`` put in. A table that has a
    ``greeting_anonymous`` uses it for the greeting when ``values`` give no ``name``."""
    strings = {key: text.format(**values) for key, text in raw.items()}
    if "greeting_anonymous" in strings and not values.get("name"):
        strings["greeting"] = strings["greeting_anonymous"]
    return strings


def render_button_mail(
    strings: Mapping[str, str], *, lang: str, sender: str, button_url: str
) -> tuple[str, str]:
    """The ``(html, text)`` of a one-button mail from its (already formatted) strings."""
    missing = STRING_KEYS - strings.keys()
    if missing:
        raise ValueError(f"the mail's strings lack {sorted(missing)}")
    context = {
        "lang": lang,
        "s": strings,
        "greeting": strings["greeting"],
        "button_url": button_url,
        "sender": sender,
        "font_stack": FONT_STACK,
        "primary": PRIMARY_COLOR,
    }
    env = template_env(TEMPLATE_DIR)
    html = add_preheader(
        mjml.mjml2html(env.get_template(HTML_TEMPLATE).render(context), fonts={}),
        strings["preheader"],
    )
    text = env.get_template(TEXT_TEMPLATE).render(context)
    return html, text


def build_button_mail(
    settings: Settings,
    *,
    to_email: str,
    to_name: str,
    strings: Mapping[str, str],
    lang: str,
    button_url: str,
    kind: str,
    now: datetime | None = None,
) -> ReadyMail:
    """A one-button message to one person, ready for the outbound path.

    ``kind`` starts the Message-ID (``<confirm.…@domain>``). A non-ASCII local part is
    written for SMTPUTF8 (RFC 6532); whether the relay can carry it is the relay's answer.
    Raises ``HeaderInjectionError`` (a ValueError) for CR/LF in a name, ``ValueError`` for
    a malformed address.
    """
    sender = settings.from_name or settings.from_addr
    html, text = render_button_mail(strings, lang=lang, sender=sender, button_url=button_url)
    local = to_email.rpartition("@")[0]
    smtputf8 = not local.isascii()
    rcpt = encode_address(to_email, smtputf8=smtputf8)
    msg = EmailMessage(policy=SMTPUTF8_POLICY if smtputf8 else POLICY)
    msg["From"] = Address(display_name=settings.from_name, addr_spec=settings.from_addr)
    to_local, _, to_domain = rcpt.rpartition("@")
    msg["To"] = Address(
        display_name=sanitize_header_value("To", to_name), username=to_local, domain=to_domain
    )
    subject = strings["subject"]
    msg["Subject"] = sanitize_header_value("Subject", subject)
    moment = now or datetime.now(settings.zone)
    msg["Date"] = format_datetime(moment.astimezone(settings.zone))
    msg["Message-ID"] = make_msgid(kind, domain=settings.from_addr.rpartition("@")[2])
    msg["Auto-Submitted"] = "auto-generated"  # RFC 3834: vacation responders stay quiet
    msg.set_content(text, subtype="plain", charset="utf-8", cte="base64")
    msg.add_alternative(html, subtype="html", charset="utf-8", cte="base64")
    return ReadyMail(mail_from=settings.from_addr, rcpt=rcpt, data=msg.as_bytes(), subject=subject)


def send_button_mail(
    session: Session, settings: Settings, mail: ReadyMail, what: str, subscriber_id: int
) -> str:
    """Send ``mail`` through the one outbound path: ``sent``, or ``refused`` when the relay
    refuses it for good (logged; nothing to retry: the reader sees no mail and can ask
    again). Raises ``TransientSendError`` when the relay should be tried again later."""
    try:
        send_message(session, settings, mail.mail_from, mail.rcpt, mail.data)
    except PermanentSendError as exc:
        log.warning("%s to subscriber %s refused: %s", what, subscriber_id, exc)
        return "refused"
    return "sent"
