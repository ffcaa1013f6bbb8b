""" "Send me a link to manage my subscription": for a reader who has no issue at hand.

The reader types an address on the public ``/preferences`` page; if it belongs to a
subscriber, that address (never another one) gets a one-button mail with its preferences
link. The page answers the same either way, so it tells nobody who is subscribed.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from service import tokens
from service.config import Settings
from service.mail.addresses import InvalidAddress, normalise
from service.mail.site_settings import effective_settings
from service.mail.transactional import build_button_mail, fill_strings, send_button_mail
from service.model import Subscriber, SubscriberStatus
from service.subscribers.preferences import address_confirmed
from service.subscribers.subscriptions import clean_language
from service.subscribers.suppression import is_suppressed

STRINGS: dict[str, dict[str, str]] = {
    "zh-CN": {
        "subject": "管理您在{sender}的订阅",
        "preheader": "点击按钮选择接收哪些刊物，或者退订。",
        "greeting": "您好，{name}！",
        "greeting_anonymous": "您好！",
        "body": "有人（希望是您本人）为此邮箱地址请求了管理订阅的链接。点击下面的按钮，"
        "可以选择接收哪些刊物、修改称呼和语言，或者全部退订：",
        "button": "管理我的订阅",
        "validity": "",
        "ignore": "如果这不是您本人的请求，请忽略此邮件：您的订阅不会有任何变化。",
        "fallback": "如果按钮无法点击，请将以下链接复制到浏览器：",
    },
    "en": {
        "subject": "Manage your subscriptions from {sender}",
        "preheader": "Choose what you receive, or unsubscribe.",
        "greeting": "Hello {name},",
        "greeting_anonymous": "Hello,",
        "body": "Someone (hopefully you) asked for a link to manage the subscriptions of this "
        "address. With the button below you can choose what you receive, change your name "
        "and language, or unsubscribe from everything:",
        "button": "Manage my subscriptions",
        "validity": "",
        "ignore": "If you did not ask for this, ignore this mail: nothing changes.",
        "fallback": "If the button does not work, copy this link into your browser:",
    },
}


def subscriber_to_mail(session: Session, raw_email: str) -> int | None:
    """The subscriber a link may be mailed to for ``raw_email``, or None (not an address,
    unknown, erased or suppressed: no mail goes to it)."""
    try:
        email = normalise(raw_email).email
    except InvalidAddress:
        return None
    row = session.scalar(select(Subscriber).where(Subscriber.email == email))
    if row is None or row.status == SubscriberStatus.ERASED or is_suppressed(session, email):
        return None
    return row.id


def preferences_url(settings: Settings, subscriber_id: int) -> str:
    """The subscriber's preferences page (the same link every issue carries)."""
    token = tokens.make_token(settings.secret_key, tokens.PREFERENCES, subscriber_id)
    return f"{settings.base_url}/preferences/{token}"


def send_preferences_link(session: Session, settings: Settings, subscriber_id: int) -> str:
    """Mail the subscriber its preferences link; return what happened.

    Raises ``TransientSendError`` when the relay should be tried again later.
    """
    settings = effective_settings(session, settings)  # the sender set in the admin
    subscriber = session.get(Subscriber, subscriber_id)
    if subscriber is None or subscriber.status == SubscriberStatus.ERASED:
        return "gone"
    if is_suppressed(session, subscriber.email):
        return "suppressed"
    lang = clean_language(subscriber.language)
    sender = settings.from_name or settings.from_addr
    # A stranger may have typed this name with the address on the public form: it is
    # used only once the address is confirmed (see confirmation.py).
    name = subscriber.name if address_confirmed(session, subscriber_id) else ""
    strings = fill_strings(STRINGS[lang], sender=sender, name=name)
    mail = build_button_mail(
        settings,
        to_email=subscriber.email,
        to_name=name,
        strings=strings,
        lang=lang,
        button_url=preferences_url(settings, subscriber_id),
        kind="preferences",
    )
    return send_button_mail(session, settings, mail, "preferences link", subscriber_id)
