"""The printed cover of a journal: lines that describe the issue, not articles.

Besides the name, the issue number and the date, the first page of a print journal carries
short lines about the publication itself: how often it appears (季刊, 月刊), who edits or
publishes it (大连市数字贸易协会秘书处编, 某某协会 主办), how it is distributed (内部资料,
内部资料 免费交流) and the licence of an internal publication (准印证号 …). A converted
document keeps them as paragraphs above the table of contents; read as text they would open
the email under the greeting, and "internal material" is wrong in mail to subscribers.

The importer stores them as ``IssueDoc.cover_lines``: kept with the issue and editable by
staff, never rendered for subscribers. Only lines that look like cover lines as a whole are
taken, so a sentence or a heading that merely mentions 内部资料 stays text.
"""

from __future__ import annotations

import re
import unicodedata

from service.issues.blocks import display_width

# Cover lines are short; a line of prose is longer even when it has no full stop.
MAX_COVER_LINE_WIDTH = 60

# How often the journal appears: the whole line, or one part of it ("季刊 · 内部资料").
_PERIODICITY = (
    r"季刊|月刊|双月刊|半月刊|旬刊|周刊|双周刊|半年刊|年刊|内刊|会刊"
    r"|quarterly|monthly|bi-?monthly|weekly|bi-?weekly|fortnightly|annual|yearly"
)
# Who may read it: internal publications must say so on the cover (and never to subscribers).
_DISTRIBUTION = (
    r"内部资料|内部刊物|内部交流|免费交流|内部发行|内部参考|仅供内部交流|仅供内部参考|仅供参考"
    r"|注意保存|免费赠阅|赠阅|非卖品|内部资料\s*免费交流"
    r"|internal|for internal use(?: only)?|not for sale|for members only|members only"
    r"|free of charge"
)
# A role word left alone once the date is taken out of its line ("2026 年 3 月 出版").
_ROLE = r"编印|主办|主管|承办|协办|出版|发行|印发|编发"
# Parts of a line made only of these words are separated by spaces or punctuation like these.
_SEPARATORS = r"[\s/|｜·•,，、;；:：()（）\[\]【】]+"
_TOKEN = rf"(?:{_PERIODICITY}|{_DISTRIBUTION}|{_ROLE})"
_TOKEN_LINE_RE = re.compile(rf"{_TOKEN}(?:{_SEPARATORS}{_TOKEN})*", re.IGNORECASE)
# The editor or publisher: "…秘书处编", "某某协会 主办", "主办：某某协会", "Published by …".
_PUBLISHER_END_RE = re.compile(
    r"\S.*?(?:编|编印|编辑|编辑部|编辑出版|主办|主编|承办|协办|主管|出品|出版|印发|编发|发行)$"
)
_PUBLISHER_LABEL_RE = re.compile(
    r"^(?:主办|主管|承办|协办|编印|主编|副主编|执行主编|责任编辑|编辑|出版|发行|印刷|编委会"
    r"|编辑部)(?:单位|者|方|地址)?\s*[:：\s]\s*\S"
    r"|^(?:published|edited|compiled|printed|produced|issued) by\s+\S"
    r"|^(?:publisher|editor|editor-in-chief|editors|printer)\s*[:：]\s*\S",
    re.IGNORECASE,
)
# The licence of an internal or periodical publication: distinctive words anywhere in the line.
_LICENCE_RE = re.compile(
    r"准印证|准印号|内资准字|内部资料性出版物|连续性内部资料|国内统一刊号|刊号|登记证"
    r"|\bISSN\b|\bCN\s*\d{2}\s*[-–]\s*\d{3,4}",
    re.IGNORECASE,
)
# A sentence is text, never a cover line ("Published by the Council for its members.").
_SENTENCE_RE = re.compile(r"[。！？!?]|\.\s*$")
# Emphasis and brackets around a whole line ("**内部资料**", "（季刊）") do not matter.
_WRAPPING = "*_~` \t（）()【】[]《》<>"


def clean_cover_line(text: str) -> str:
    """A cover line as stored: one line, spaces squashed, emphasis markers dropped."""
    return " ".join(text.replace("**", "").replace("__", "").split())


def is_cover_line(text: str) -> bool:
    """Whether ``text`` (plain text of one paragraph) is a line of the printed cover."""
    line = clean_cover_line(text)
    if not line or "\n" in text.strip() or display_width(line) > MAX_COVER_LINE_WIDTH:
        return False
    if _SENTENCE_RE.search(line):
        return False
    core = unicodedata.normalize("NFKC", line).strip(_WRAPPING)
    if not core:
        return False
    return bool(
        _TOKEN_LINE_RE.fullmatch(core)
        or _PUBLISHER_END_RE.fullmatch(core)
        or _PUBLISHER_LABEL_RE.match(core)
        or _LICENCE_RE.search(core)
    )
