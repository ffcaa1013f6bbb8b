"""Which column of an import file is which field: the mapping of its columns.

The header names we recognise (English and Chinese), the guess made from them, the
``--map COLUMN=FIELD`` options of the CLI and the check that exactly one column is the
address. Separate from reading the rows because the admin's mapping page and the API
need the mapping long before (and without) any row being read.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from service.subscribers.import_terms import ImportSetupError

CORE_FIELDS = ("email", "name", "organisation", "language")
IGNORE = "ignore"
ATTRIBUTE = "attribute"  # the column becomes an attribute named after its header
# Header names we recognise without asking (compared case-insensitively, spaces ignored).
HEADER_ALIASES: dict[str, tuple[str, ...]] = {
    "email": (
        "email",
        "e-mail",
        "e_mail",
        "mail",
        "emailaddress",
        "email address",
        "邮箱",
        "电子邮件",
        "电子邮箱",
        "邮件地址",
        "邮箱地址",
        "电子邮件地址",
        "e-mail地址",
    ),
    "name": ("name", "fullname", "full name", "contact", "姓名", "名字", "联系人", "称呼"),
    "organisation": (
        "organisation",
        "organization",
        "org",
        "company",
        "employer",
        "单位",
        "公司",
        "企业",
        "单位名称",
        "公司名称",
        "企业名称",
        "工作单位",
        "机构",
    ),
    "language": ("language", "lang", "locale", "语言"),
}


def _header_key(header: str) -> str:
    return re.sub(r"[\s_]+", " ", header.strip().lstrip("\ufeff").casefold()).strip()


_ALIAS_INDEX = {
    _header_key(alias): target for target, names in HEADER_ALIASES.items() for alias in names
}


def guess_mapping(headers: list[str]) -> dict[str, str]:
    """Map each header to a field by its name (English or Chinese); anything unknown
    becomes an attribute. Only the first column that looks like a field gets it."""
    mapping: dict[str, str] = {}
    taken: set[str] = set()
    for header in headers:
        key = _header_key(header)
        target = _ALIAS_INDEX.get(key) or _ALIAS_INDEX.get(key.replace(" ", ""))
        if target and target not in taken:
            mapping[header] = target
            taken.add(target)
        else:
            mapping[header] = ATTRIBUTE
    if "email" not in taken and len(headers) == 1:
        mapping[headers[0]] = "email"  # a bare list of addresses
    return mapping


def parse_map_options(options: Iterable[str]) -> dict[str, str]:
    """``["邮箱=email", "手机=phone"]`` → ``{"邮箱": "email", "手机": "phone"}``."""
    result = {}
    for option in options:
        column, sep, target = option.partition("=")
        if not sep or not column.strip() or not target.strip():
            raise ImportSetupError(
                "import.bad_map_option", "--map wants COLUMN=FIELD, got %(option)r", option=option
            )
        result[column.strip()] = target.strip()
    return result


def complete_mapping(headers: list[str], overrides: dict[str, str] | None) -> dict[str, str]:
    """The guessed mapping with ``overrides`` applied; checks exactly one email column."""
    mapping = guess_mapping(headers)
    for column, target in (overrides or {}).items():
        if column not in mapping:
            raise ImportSetupError(
                "import.no_column",
                "there is no column %(column)r; the columns are: %(columns)s",
                column=column,
                columns=", ".join(headers),
            )
        if target in CORE_FIELDS:
            for other, current in mapping.items():  # a field belongs to one column only
                if current == target and other != column:
                    mapping[other] = ATTRIBUTE
        mapping[column] = target
    emails = [c for c, t in mapping.items() if t == "email"]
    if len(emails) != 1:
        if not emails:
            raise ImportSetupError("import.no_email_column", "no column is mapped to email")
        raise ImportSetupError("import.two_email_columns", "only one column can be email")
    return mapping
