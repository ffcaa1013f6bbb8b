"""The double opt-in confirmation mail: transactional, no marketing content (STANDARDS §7.1).

MJML template (``templates/email/confirm/``) compiled with mjml-python, plus a text part
from the same strings. Built as an ``EmailMessage`` with the project's ``POLICY`` (CRLF,
base64 bodies, RFC 2047 subject and display names); a confirmation is not list mail, so it
carries no List-Unsubscribe.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from pathlib import Path

import mjml
from jinja2 import Environment
from sqlalchemy import select
from sqlalchemy.orm import Session

from service.config import Settings
from service.db import utcnow
from service.issues.render import FONT_STACK
from service.mail.backends import PermanentSendError, backend_for
from service.mail.message import encode_address
from service.mail.policy import POLICY, SMTPUTF8_POLICY, sanitize_header_value
from service.mail.templating import add_preheader, template_env
from service.subscribers.models import (
    MailingList,
    Membership,
    MembershipStatus,
    Subscriber,
    SubscriberToken,
    TokenPurpose,
)
from service.subscribers.subscriptions import CONFIRM_TOKEN_HOURS, clean_language
from service.subscribers.suppression import is_suppressed

log = logging.getLogger(__name__)

TEMPLATE_DIR = Path(__file__).resolve().parents[2] / "templates" / "email" / "confirm"
HTML_TEMPLATE = "confirm.mjml.j2"
TEXT_TEMPLATE = "confirm.txt.j2"
PRIMARY_COLOR = "#1d4e89"

# Fixed strings per subscriber language (the mail goes out without a request, so it is
# chosen by the subscriber's language, not by the page locale).
STRINGS: dict[str, dict[str, str]] = {
    "zh-CN": {
        "subject": "请确认订阅《{list}》",
        "preheader": "点击链接确认订阅，{hours} 小时内有效。",
        "greeting": "您好，{name}！",
        "greeting_anonymous": "您好！",
        "body": "有人（希望是您本人）用此邮箱地址订阅了{sender}的《{list}》。"
        "请点击下面的按钮确认订阅：",
        "button": "确认订阅",
        "validity": "此链接 {hours} 小时内有效，只能使用一次。",
        "ignore": "如果您没有订阅，请忽略此邮件：未经确认，我们不会再给您发送任何邮件。",
        "fallback": "如果按钮无法点击，请将以下链接复制到浏览器：",
    },
    "en": {
        "subject": "Please confirm your subscription to {list}",
        "preheader": "Click the link to confirm; it is valid for {hours} hours.",
        "greeting": "Hello {name},",
        "greeting_anonymous": "Hello,",
        "body": "Someone (hopefully you) subscribed this address to {list} from {sender}. "
        "Please confirm with the button below:",
        "button": "Confirm my subscription",
        "validity": "This link is valid for {hours} hours and works once.",
        "ignore": "If you did not subscribe, ignore this mail: without your confirmation "
        "we will not write to you again.",
        "fallback": "If the button does not work, copy this link into your browser:",
    },
}


@dataclass(frozen=True)
class ConfirmationMail:
    """A ready message: envelope and bytes for ``MailBackend.send``."""

    mail_from: str
    rcpt: str
    data: bytes
    subject: str


def _jinja() -> Environment:
    return template_env(TEMPLATE_DIR)


def render_confirmation(
    *, language: str, list_name: str, name: str, sender: str, confirm_url: str
) -> tuple[str, str, str]:
    """Return ``(subject, html, text)`` of the confirmation mail in ``language``."""
    lang = clean_language(language)
    raw = STRINGS[lang]
    values = {"list": list_name, "sender": sender, "hours": CONFIRM_TOKEN_HOURS, "name": name}
    strings = {key: text.format(**values) for key, text in raw.items()}
    greeting = strings["greeting"] if name else strings["greeting_anonymous"]
    context = {
        "lang": lang,
        "s": strings,
        "greeting": greeting,
        "confirm_url": confirm_url,
        "sender": sender,
        "font_stack": FONT_STACK,
        "primary": PRIMARY_COLOR,
    }
    env = _jinja()
    html = mjml.mjml2html(env.get_template(HTML_TEMPLATE).render(context), fonts={})
    html = add_preheader(html, strings["preheader"])
    text = env.get_template(TEXT_TEMPLATE).render(context)
    return strings["subject"], html, text


def build_confirmation(
    settings: Settings,
    *,
    to_email: str,
    to_name: str,
    language: str,
    list_name: str,
    confirm_url: str,
    now: datetime | None = None,
) -> ConfirmationMail:
    """The confirmation message for one subscriber, ready to hand to a mail backend.

    A non-ASCII local part is written for SMTPUTF8 (RFC 6532); whether the relay can
    carry it is the backend's answer. Raises ``HeaderInjectionError`` (a ValueError) for
    CR/LF in a name, ``ValueError`` for a malformed address.
    """
    sender = settings.from_name or settings.from_addr
    subject, html, text = render_confirmation(
        language=language,
        list_name=list_name,
        name=to_name,
        sender=sender,
        confirm_url=confirm_url,
    )
    local = to_email.rpartition("@")[0]
    smtputf8 = not local.isascii()
    rcpt = encode_address(to_email, smtputf8=smtputf8)
    msg = EmailMessage(policy=SMTPUTF8_POLICY if smtputf8 else POLICY)
    msg["From"] = Address(display_name=settings.from_name, addr_spec=settings.from_addr)
    to_local, _, to_domain = rcpt.rpartition("@")
    msg["To"] = Address(
        display_name=sanitize_header_value("To", to_name), username=to_local, domain=to_domain
    )
    msg["Subject"] = sanitize_header_value("Subject", subject)
    moment = now or datetime.now(settings.zone)
    msg["Date"] = format_datetime(moment.astimezone(settings.zone))
    domain = settings.from_addr.rpartition("@")[2]
    msg["Message-ID"] = make_msgid("confirm", domain=domain)
    msg["Auto-Submitted"] = "auto-generated"  # RFC 3834: vacation responders stay quiet
    msg.set_content(text, subtype="plain", charset="utf-8", cte="base64")
    msg.add_alternative(html, subtype="html", charset="utf-8", cte="base64")
    return ConfirmationMail(
        mail_from=settings.from_addr, rcpt=rcpt, data=msg.as_bytes(), subject=subject
    )


def send_confirmation(
    session: Session, settings: Settings, subscriber_id: int, list_id: int
) -> str:
    """Mail the current confirmation link of (subscriber, list), if it is still wanted.

    Raises ``TransientSendError`` when the relay should be tried again later. Reads the
    newest token at send time: a retry after a resend mails the new link, and a membership
    confirmed or left in the meantime gets no mail. Returns what it did.
    """
    token = session.scalar(
        select(SubscriberToken).where(
            SubscriberToken.purpose == TokenPurpose.CONFIRM,
            SubscriberToken.subscriber_id == subscriber_id,
            SubscriberToken.list_id == list_id,
        )
    )
    subscriber = session.get(Subscriber, subscriber_id)
    membership = session.get(Membership, (subscriber_id, list_id))
    mailing_list = session.get(MailingList, list_id)
    if token is None or subscriber is None or mailing_list is None or membership is None:
        return "gone"
    if token.used_at is not None or membership.status != MembershipStatus.UNCONFIRMED:
        return "not needed"
    if token.expires_at is not None and token.expires_at <= utcnow():
        return "expired"
    if is_suppressed(session, subscriber.email):
        return "suppressed"
    mail = build_confirmation(
        settings,
        to_email=subscriber.email,
        to_name=subscriber.name,
        language=subscriber.language,
        list_name=mailing_list.name,
        confirm_url=f"{settings.base_url}/confirm/{token.token}",
    )
    try:
        with backend_for(settings.smtp, settings.data_dir / "outbox") as backend:
            backend.send(mail.mail_from, mail.rcpt, mail.data)
    except PermanentSendError as exc:
        # Nothing to retry: the reader sees no mail and can ask for a new link.
        log.warning("confirmation to subscriber %s refused: %s", subscriber_id, exc)
        return "refused"
    return "sent"
