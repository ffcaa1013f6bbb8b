"""The folded form of an organisation's name: what makes two spellings one organisation.

A member list typed by hand spells the same company 「ＡＢＣ科技有限公司」 in one row and
「ABC科技有限公司 」 in the next. NFKC folds full-width letters, digits, spaces and
brackets to their ordinary forms, runs of spaces become one, and Latin letters are
case-folded (``casefold`` leaves Chinese as it is). Nothing else is guessed: 「有限公司」
and 「有限责任公司」 are different legal forms and stay different organisations.

Pure Python with no imports from the service, so the migration that created the table
(0016) can fold the names it found with the same rule.
"""

from __future__ import annotations

import re
import unicodedata

NAME_MAX = 200  # the width of organisations.name (and of subscribers.organisation)
KEY_MAX = 400  # the width of organisations.name_key: NFKC may lengthen a name
SPACES = re.compile(r"\s+")


def display_name(raw: str) -> str:
    """The name as shown: as typed, with its spaces trimmed and collapsed."""
    return SPACES.sub(" ", raw or "").strip()[:NAME_MAX]


def name_key(raw: str) -> str:
    """The folded name organisations are matched by (empty for a blank name)."""
    folded = unicodedata.normalize("NFKC", raw or "").casefold()
    return SPACES.sub(" ", folded).strip()[:KEY_MAX]
