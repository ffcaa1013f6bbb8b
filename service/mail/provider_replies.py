"""What the big mailbox providers mean by their SMTP replies (issue 17, item 5).

One table, ``REPLIES``: each line is a reply pattern (basic code, enhanced code, a regular
expression over the reply text), the provider that gives it, what it means for us, and
where the line comes from. The sender asks ``meaning_of`` only when a message was
refused (never on the success path); patterns are compiled once, at import.

Meanings, and what the sender does with each (``campaigns.sender``):

- ``slow_down``: the provider limits how fast we send (QQ's "frequency limited",
  NetEase's MI:SFQ / RP:QRC ...). That provider's queue pauses, shared through Redis
  (``throttle.Throttle.back_off``); the row goes back as ``retry_due`` for after the
  pause; nobody is suppressed, the campaign's error brake is not fed;
- ``temporary``: try this row again later (the usual 4xx retry), even when the code is a
  5xx (QQ answers ``550`` for "this recipient gets too much mail right now");
- ``policy_block``: the provider refuses US (SPF, DMARC, a blacklisted IP): recorded as
  a sender-side alert (``events.policy``, kind ``policy``), the recipient is left alone;
- ``spam_content``: the provider refuses this content: like ``policy_block``;
- ``no_such_user``: the address does not exist: a hard bounce (suppressed);
- ``mailbox_full``: the mailbox is full: the row fails (5xx) or is retried (4xx); the
  address is not suppressed for it.

Sources. QQ's lines come from the QQ Mail / Tencent Exmail help centre pages its replies
link to (``service.exmail.qq.com/cgi-bin/help?subtype=1&&id=20022&&no=…``), as listed
on smtp.codes/qq and quoted in Chinese bulk-mail posts (yimisoft.com, ydadm.com citing
exmail.qq.com). NetEase's come from its "退信代码说明" (the page its replies link to,
``mail.163.com/help/help_spam_16.htm``), reproduced in several public posts and code
comments (e.g. biecuoliao.com/pa/MBRrwEM.html, 51yue.net). Google's from its Workspace
help page "Gmail SMTP errors and codes". A reply seen only in the issue text (not found
in those sources) says so on its line. The ``sample`` of a NetEase line keeps the code
and the shape of the public samples ("163 mx3,<id> <time> <help link>"); "..." stands
for the session id we did not copy. Codes we could not find (e.g. a NetEase
``IP:BL``) are not in the table: NetEase's blacklist replies read "IP in blacklist".
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Final

SLOW_DOWN: Final = "slow_down"
TEMPORARY: Final = "temporary"
POLICY_BLOCK: Final = "policy_block"
SPAM_CONTENT: Final = "spam_content"
NO_SUCH_USER: Final = "no_such_user"
MAILBOX_FULL: Final = "mailbox_full"
MEANINGS = (SLOW_DOWN, TEMPORARY, POLICY_BLOCK, SPAM_CONTENT, NO_SUCH_USER, MAILBOX_FULL)

# A provider that says "no more today" gets at least this pause, whatever the stepped
# back-off would give (NetEase MI:STC / RP:TRC: "当天不再接受").
DAILY_PAUSE_SECONDS = 3600.0
# NetEase MI:SFQ counts over 15 minutes ("发信人在15分钟内的发信数量超过限制").
QUARTER_HOUR_SECONDS = 900.0


@dataclass(frozen=True)
class Reply:
    """One known reply: ``text`` is a regular expression searched in the reply (case
    folded); ``codes`` the basic codes it comes with (empty: any); ``enhanced`` an RFC
    3463 prefix it must carry ("" for any); ``min_pause`` the least pause a slow-down
    asks for."""

    provider: str
    meaning: str
    text: str
    codes: tuple[int, ...] = ()
    enhanced: str = ""
    min_pause: float = 0.0
    sample: str = ""  # a reply as the provider sends it (the unit tests feed each one)
    source: str = ""
    pattern: re.Pattern[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "pattern", re.compile(self.text, re.I))

    def matches(self, code: int | None, enhanced: str | None, reply: str) -> bool:
        """Whether a refusal ``code`` / ``enhanced`` / ``reply`` text is this one."""
        if self.codes and code not in self.codes:
            return False
        if self.enhanced and not (enhanced or "").startswith(self.enhanced):
            return False
        return self.pattern.search(reply) is not None


_QQ = "QQ Mail / Exmail help centre (service.exmail.qq.com help id=20022), via smtp.codes/qq"
_QQ_ZH = "QQ 邮箱常见退信代码说明, quoted by yimisoft.com (article 2261) and ydadm.com (exmail)"
_NETEASE = "NetEase 退信代码说明 (mail.163.com/help/help_spam_16.htm), reproduced publicly"
_GOOGLE = "Google Workspace help, 'Gmail SMTP errors and codes'"

REPLIES: tuple[Reply, ...] = (
    # ---- Tencent: QQ Mail and Exmail share one reply vocabulary.
    Reply(
        "tencent",
        SLOW_DOWN,
        r"\bfrequency limited",
        (550,),
        sample="550 Ip frequency limited. http://service.mail.qq.com/cgi-bin/help?subtype=1"
        "&&id=20022&&no=1000725",
        source=f"{_QQ}, no=1000725 (Ip) and no=1000723 (Sender); {_QQ_ZH}: Domain, Sender "
        "and Connection frequency limited: blocked for minutes, hours or the day",
    ),
    Reply(
        "tencent",
        SLOW_DOWN,
        r"\bfrequency limited",
        (421, 450, 451),
        sample="421 Service unavailable, frequency limited",
        source="the issue text (17, item 5) names '421 … frequency limited'; not found in "
        "the sources searched (the sample's wording is ours)",
    ),
    Reply(
        "tencent",
        TEMPORARY,
        r"mailbox unavailable or access denied",
        (550,),
        sample="550 Mailbox unavailable or access denied",
        source=f"{_QQ}: the recipient gets too much mail, sending to it is paused for now",
    ),
    Reply(
        "tencent",
        SPAM_CONTENT,
        r"mail content denied",
        (550,),
        sample="550 Mail content denied. http://service.exmail.qq.com/cgi-bin/help?"
        "subtype=1&&id=20022&&no=1000726",
        source=f"{_QQ}, no=1000726",
    ),
    Reply(
        "tencent",
        POLICY_BLOCK,
        r"suspected spam sender|dmarc check failed",
        (550,),
        sample="550 Suspected spam sender.",
        source=f"{_QQ}: 550 Suspected spam sender / 550 DMARC check failed",
    ),
    Reply(
        "tencent",
        POLICY_BLOCK,
        r"mail is rejected by recipients",
        (550,),
        sample="550 Mail is rejected by recipients",
        source=f"{_QQ}: the recipient's own blacklist or filter refuses us",
    ),
    Reply(
        "tencent",
        NO_SUCH_USER,
        r"mailbox not found",
        (550,),
        sample="550 Mailbox not found. http://service.exmail.qq.com/cgi-bin/help?"
        "subtype=1&&id=20022&&no=1000728",
        source=f"{_QQ}, no=1000728",
    ),
    # ---- NetEase (163.com, 126.com, yeah.net; Qiye uses the same codes).
    Reply(
        "netease",
        SLOW_DOWN,
        r"\bHL:(ICC|IFC)\b",
        (421,),
        sample="421 HL:IFC 163 mx3,... http://mail.163.com/help/help_spam_16.htm",
        source=f"{_NETEASE}: HL:ICC too many connections, HL:IFC too much mail in a short time",
    ),
    Reply(
        "netease",
        SLOW_DOWN,
        r"\b(MI:DMC|RP:DRC)\b",
        (450, 451),
        sample="451 MI:DMC 163 mx14,... http://mail.163.com/help/help_spam_16.htm",
        source=f"{_NETEASE}: too many messages (MI:DMC) or recipients (RP:DRC) per connection",
    ),
    Reply(
        "netease",
        SLOW_DOWN,
        r"\bMI:SFQ\b",
        (451,),
        min_pause=QUARTER_HOUR_SECONDS,
        sample="451 MI:SFQ 163 mx21,... http://mail.163.com/help/help_spam_16.htm",
        source=f"{_NETEASE}: more mail from the sender in 15 minutes than allowed",
    ),
    Reply(
        "netease",
        SLOW_DOWN,
        r"\bRP:QRC\b",
        (451,),
        sample="451 RP:QRC 126 mx5,... http://mail.163.com/help/help_spam_16.htm",
        source=f"{_NETEASE}: too many recipients in a short time, sender paused",
    ),
    Reply(
        "netease",
        SLOW_DOWN,
        r"\b(MI:STC|RP:TRC)\b",
        (550, 554),
        min_pause=DAILY_PAUSE_SECONDS,
        sample="550 RP:TRC 163 mx2,... http://mail.163.com/help/help_spam_16.htm",
        source=f"{_NETEASE}: the day's connections (MI:STC) or recipients (RP:TRC) used up",
    ),
    Reply(
        "netease",
        TEMPORARY,
        r"\b(RP:CEL|MI:CEL|MI:CCL|RP:CCL|HL:REP|HL:MEP)\b",
        (421, 450, 451),
        sample="451 RP:CEL 163 mx7,... http://mail.163.com/help/help_spam_16.htm",
        source=f"{_NETEASE}: too many bad or excess commands, sender paused for now",
    ),
    Reply(
        "netease",
        TEMPORARY,
        r"\bDT:SPM\b",
        (451,),
        sample="451 DT:SPM 163 mx9,...,please try again http://mail.163.com/help/help_spam_16.htm",
        source=f"{_NETEASE}: looks like spam for now, keep the queue and retry in two minutes",
    ),
    Reply(
        "netease",
        SPAM_CONTENT,
        r"\bDT:SPM\b",
        (550, 554),
        sample="554 DT:SPM 126 smtp5,jtKowAAnI4CgTxpbogAOAA--.26S2 1528450981,please see "
        "http://mail.163.com/help/help_spam_16.htm?ip=112.97.59.183&hostid=smtp5",
        source=f"{_NETEASE}: the content is refused as spam (sample from a public post)",
    ),
    Reply(
        "netease",
        POLICY_BLOCK,
        r"\b(MI:IMF|MI:SPF|MI:DMA|MI:NHD|DT:SUM|HL:IPB|HL:IHU|MI:SPB)\b",
        (550, 553, 554),
        sample="550 MI:IMF 126 mx2,IMmowACXz0un8TlfJMPIAg--.47921S3 1597632936 "
        "http://mail.163.com/help/help_spam_16.htm?ip=173.82.56.165&hostid=mx2",
        source=f"{_NETEASE}: our sender address, SPF, DMARC, HELO or IP is refused",
    ),
    Reply(
        "netease",
        POLICY_BLOCK,
        r"\bDT:RBL\b|\bWM:BL[IU]\b",
        (450,),
        sample="450 DT:RBL 163 mx1,... http://mail.163.com/help/help_spam_16.htm",
        source=f"{_NETEASE}: our IP is on an RBL, or not on NetEase's allowed list",
    ),
    Reply(
        "netease",
        POLICY_BLOCK,
        r"\bIP in blacklist\b|\bIP is rejected\b|user in blacklist",
        (550, 554),
        sample="554 IP in blacklist",
        source=f"{_NETEASE}: 554 IP in blacklist / IP is rejected, 550 User in blacklist",
    ),
    Reply(
        "netease",
        NO_SUCH_USER,
        r"\binvalid user\b|\buser suspended\b",
        (550,),
        sample="550 Invalid User",
        source=f"{_NETEASE}: 550 Invalid User (no such user), 550 User suspended (disabled)",
    ),
    # ---- Google (Gmail and Workspace).
    Reply(
        "gmail",
        MAILBOX_FULL,
        r"",
        (452, 552),
        enhanced="4.2.2",
        sample="452 4.2.2 The recipient's inbox is out of storage space.",
        source=f"{_GOOGLE}: 452 4.2.2",
    ),
    Reply(
        "gmail",
        TEMPORARY,
        r"receiving mail (at a rate|too quickly)|rate that prevents",
        (450,),
        enhanced="4.2.1",
        sample="450 4.2.1 The user you are trying to contact is receiving mail at a rate that "
        "prevents additional messages from being delivered.",
        source=f"{_GOOGLE}: 450 4.2.1 (this recipient, not the provider, is over its rate)",
    ),
    Reply(
        "gmail",
        SPAM_CONTENT,
        r"likely unsolicited mail",
        (550,),
        enhanced="5.7.1",
        sample="550 5.7.1 Our system has detected that this message is likely unsolicited mail.",
        source=f"{_GOOGLE}: 550 5.7.1 (also quoted by magicwinmail.com's Gmail bounce page)",
    ),
)


def meaning_of(code: int | None, enhanced: str | None, reply: str) -> Reply | None:
    """The first known reply that ``code`` / ``enhanced`` / ``reply`` matches, or None."""
    return next((r for r in REPLIES if r.matches(code, enhanced, reply)), None)
