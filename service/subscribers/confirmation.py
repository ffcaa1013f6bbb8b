"""The double opt-in confirmation mail: transactional, no marketing content (STANDARDS §7.1).

A one-button mail (``service.mail.transactional``) in the subscriber's language, sent
through the one outbound path (``service.mail.outbound``: DKIM, relays, throttle).

It goes to an address nobody has confirmed yet, typed by anyone into a public form, so
nothing else from that form may reach it: no name in To: or in the greeting, no
organisation. Only staff-written text (the list's name, the sender) and fixed strings
do; otherwise the form would relay a stranger's words to any address. The name is kept
and used in list mail once the address is confirmed.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from service.config import Settings
from service.mail.site_settings import effective_settings
from service.mail.transactional import (
    ReadyMail,
    build_button_mail,
    fill_strings,
    send_button_mail,
)
from service.model import (
    MailingList,
    Membership,
    MembershipStatus,
    Subscriber,
    SubscriberToken,
    TokenPurpose,
    utcnow,
)
from service.subscribers.subscriptions import CONFIRM_TOKEN_HOURS, clean_language
from service.subscribers.suppression import is_suppressed

# Fixed strings per subscriber language (the mail goes out without a request, so it is
# chosen by the subscriber's language, not by the page locale).
STRINGS: dict[str, dict[str, str]] = {
    "zh-CN": {
        "subject": "请确认订阅《{list}》",
        "preheader": "点击链接确认订阅，{hours} 小时内有效。",
        "greeting": "您好！",
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
        "greeting": "Hello,",
        "body": "Someone (hopefully you) subscribed this address to {list} from {sender}. "
        "Please confirm with the button below:",
        "button": "Confirm my subscription",
        "validity": "This link is valid for {hours} hours and works once.",
        "ignore": "If you did not subscribe, ignore this mail: without your confirmation "
        "we will not write to you again.",
        "fallback": "If the button does not work, copy this link into your browser:",
    },
}


def confirmation_strings(language: str, *, list_name: str, sender: str) -> dict[str, str]:
    """The confirmation's strings in ``language``, formatted (staff-written values only)."""
    return fill_strings(
        STRINGS[clean_language(language)],
        list=list_name,
        sender=sender,
        hours=CONFIRM_TOKEN_HOURS,
    )


def build_confirmation(
    settings: Settings,
    *,
    to_email: str,
    language: str,
    list_name: str,
    confirm_url: str,
    now: datetime | None = None,
) -> ReadyMail:
    """The confirmation message for one subscriber, ready for the outbound path.

    Takes no name on purpose (see the module docstring): To: is the bare address.
    Raises ``ValueError`` for a malformed address.
    """
    sender = settings.from_name or settings.from_addr
    strings = confirmation_strings(language, list_name=list_name, sender=sender)
    return build_button_mail(
        settings,
        to_email=to_email,
        to_name="",
        strings=strings,
        lang=clean_language(language),
        button_url=confirm_url,
        kind="confirm",
        now=now,
    )


def send_confirmation(
    session: Session, settings: Settings, subscriber_id: int, list_id: int
) -> str:
    """Mail the current confirmation link of (subscriber, list), if it is still wanted.

    Raises ``TransientSendError`` when the relay should be tried again later. Reads the
    newest token at send time: a retry after a resend mails the new link, and a membership
    confirmed or left in the meantime gets no mail. Returns what it did.
    """
    settings = effective_settings(session, settings)  # the sender set in the admin
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
        language=subscriber.language,
        list_name=mailing_list.name,
        confirm_url=f"{settings.base_url}/confirm/{token.token}",
    )
    return send_button_mail(session, settings, mail, "confirmation", subscriber_id)
