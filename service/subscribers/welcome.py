"""The welcome mail, sent once a reader has confirmed a double opt-in subscription.

A one-button mail (``service.mail.transactional``) in the subscriber's language, sent
through the one outbound path (``service.mail.outbound``). Its button opens the latest
issue in the public web archive; while no issue is public it opens the reader's
preferences page instead, so the mail never links to a page that answers "not found".
The address is confirmed by then, so the greeting may use the name given on the form.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from service.config import Settings
from service.issues.publishing import archive_url, latest_published
from service.mail.site_settings import effective_settings
from service.mail.transactional import (
    ReadyMail,
    build_button_mail,
    fill_strings,
    send_button_mail,
)
from service.model import Issue, MailingList, Membership, MembershipStatus, Subscriber
from service.subscribers.preferences_link import preferences_url
from service.subscribers.subscriptions import clean_language
from service.subscribers.suppression import is_suppressed

# Per subscriber language (no request when the worker sends it). ``body_issue`` and
# ``button_issue`` replace ``body`` and ``button`` when an issue is public.
STRINGS: dict[str, dict[str, str]] = {
    "zh-CN": {
        "subject": "欢迎订阅《{list}》",
        "preheader": "订阅已确认，新一期出版后会发送到此邮箱。",
        "greeting": "您好，{name}！",
        "greeting_anonymous": "您好！",
        "body": "您已确认订阅{sender}的《{list}》，新一期出版后会发送到此邮箱。"
        "点击下面的按钮，可以选择接收哪些刊物、修改称呼和语言，或者退订：",
        "button": "管理我的订阅",
        "body_issue": "您已确认订阅{sender}的《{list}》，新一期出版后会发送到此邮箱。"
        "最新一期（{issue}）已在网上刊出，欢迎阅读：",
        "button_issue": "阅读最新一期",
        "validity": "",
        "ignore": "如需更改订阅或退订，可以使用每期邮件末尾的链接。",
        "fallback": "如果按钮无法点击，请将以下链接复制到浏览器：",
    },
    "en": {
        "subject": "Welcome to {list}",
        "preheader": "Your subscription is confirmed; new issues will come to this address.",
        "greeting": "Hello {name},",
        "greeting_anonymous": "Hello,",
        "body": "You have confirmed your subscription to {list} from {sender}; new issues "
        "will come to this address. With the button below you can choose what you "
        "receive, change your name and language, or unsubscribe:",
        "button": "Manage my subscriptions",
        "body_issue": "You have confirmed your subscription to {list} from {sender}; new "
        "issues will come to this address. The latest issue ({issue}) is online:",
        "button_issue": "Read the latest issue",
        "validity": "",
        "ignore": "To change your subscription or unsubscribe, use the links at the end of "
        "every issue.",
        "fallback": "If the button does not work, copy this link into your browser:",
    },
}


def _issue_label(issue: Issue) -> str:
    return " ".join(part for part in (issue.title, issue.number) if part)


def build_welcome(
    settings: Settings,
    subscriber: Subscriber,
    mailing_list: MailingList,
    latest: Issue | None,
) -> ReadyMail:
    """The welcome message for a confirmed subscriber; links to ``latest`` if given."""
    lang = clean_language(subscriber.language)
    values = {
        "list": mailing_list.name,
        "sender": settings.from_name or settings.from_addr,
        "name": subscriber.name,
        "issue": _issue_label(latest) if latest else "",
    }
    strings = fill_strings(STRINGS[lang], **values)
    if latest is not None:
        strings["body"], strings["button"] = strings["body_issue"], strings["button_issue"]
        button_url = archive_url(settings, latest.slug)
    else:
        button_url = preferences_url(settings, subscriber.id)
    return build_button_mail(
        settings,
        to_email=subscriber.email,
        to_name=subscriber.name,
        strings=strings,
        lang=lang,
        button_url=button_url,
        kind="welcome",
    )


def send_welcome(session: Session, settings: Settings, subscriber_id: int, list_id: int) -> str:
    """Mail the welcome for (subscriber, list) if the membership is still active.

    Raises ``TransientSendError`` when the relay should be tried again later. Returns
    what it did (``sent``, ``gone``, ``not active``, ``suppressed``, ``refused``).
    """
    settings = effective_settings(session, settings)  # the sender set in the admin
    subscriber = session.get(Subscriber, subscriber_id)
    mailing_list = session.get(MailingList, list_id)
    membership = session.get(Membership, (subscriber_id, list_id))
    if subscriber is None or mailing_list is None or membership is None:
        return "gone"
    if membership.status != MembershipStatus.ACTIVE:
        return "not active"  # left again before the worker got to it
    if is_suppressed(session, subscriber.email):
        return "suppressed"
    mail = build_welcome(settings, subscriber, mailing_list, latest_published(session))
    return send_button_mail(session, settings, mail, "welcome mail", subscriber_id)
