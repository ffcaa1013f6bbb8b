"""Every string a person sees in the admin and public pages has a Chinese translation."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from typing import Any

from babel.messages.mofile import read_mo
from babel.messages.pofile import read_po

ROOT = Path(__file__).resolve().parent.parent.parent
CATALOG = ROOT / "service" / "translations" / "zh" / "LC_MESSAGES"


def _key(message: Any) -> str:
    # A plural message (ngettext) is known by its singular msgid.
    return str(message.id[0] if isinstance(message.id, tuple | list) else message.id)


def _strings(message: Any) -> tuple[str, ...]:
    # One string, or one per plural form (a tuple in a .po, a list in a .mo).
    string = message.string
    return tuple(string) if isinstance(string, tuple | list) else (string,)


def _translated(message: Any) -> bool:
    return all(_strings(message))


def _run_extract(tree: Path, pot: Path) -> subprocess.CompletedProcess[str]:
    """Babel's extraction over ``tree`` with the project's babel.cfg, as tools/i18n.py runs it."""
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "babel.messages.frontend",
            "extract",
            "-F",
            str(ROOT / "babel.cfg"),
            "-k",
            "_l",
            "-k",
            "lazy_gettext",
            "--ignore-dirs",
            ".venv var node_modules",
            "-o",
            str(pot),
            ".",
        ],
        cwd=tree,
        capture_output=True,
        text=True,
    )


def _extract(tmp_path: Path) -> set[str]:
    pot = tmp_path / "messages.pot"
    extraction = _run_extract(ROOT, pot)
    assert extraction.returncode == 0, extraction.stderr
    with pot.open("rb") as fh:
        return {_key(m) for m in read_po(fh) if m.id}


def test_every_translatable_string_has_a_chinese_translation(tmp_path: Path) -> None:
    wanted = _extract(tmp_path)
    with (CATALOG / "messages.po").open("rb") as fh:
        catalog = {_key(m): _translated(m) for m in read_po(fh, locale="zh") if m.id}
    missing = sorted(m for m in wanted if not catalog.get(m))
    assert not missing, "untranslated (run tools/i18n.py update and translate):\n" + "\n".join(
        missing
    )


def test_the_compiled_catalogue_matches_the_po_file() -> None:
    with (CATALOG / "messages.po").open("rb") as fh:
        po = {_key(m): _strings(m) for m in read_po(fh, locale="zh") if m.id and _translated(m)}
    with (CATALOG / "messages.mo").open("rb") as fh:
        mo = {_key(m): _strings(m) for m in read_mo(fh) if m.id}
    assert po == mo, "messages.mo is stale: run python tools/i18n.py compile"


def test_chinese_labels_use_the_full_width_colon() -> None:
    # Issue 7: "状态: 草稿" read as a typo. A label's colon belongs in its msgid (so the
    # translation can use "："), never typed after the translated label in a template.
    with (CATALOG / "messages.po").open("rb") as fh:
        ascii_after_chinese = sorted(
            _key(m)
            for m in read_po(fh, locale="zh")
            # (":" inside a URL pattern such as smtp://用户:密码@主机 is not a label's)
            if m.id and any(re.search(r"[\u4e00-\u9fff）]:(\s|$)", t) for t in _strings(m))
        )
    assert ascii_after_chinese == []
    colon_after_label = re.compile(r"\{\{ _\('[^']*'\) \}\}:")
    typed = [
        str(path.relative_to(ROOT))
        for path in (ROOT / "templates" / "web").rglob("*.html")
        if colon_after_label.search(path.read_text(encoding="utf-8"))
    ]
    assert typed == []


# A placeholder, a URL or a URL pattern (smtp://用户:密码@主机:端口) keeps its ASCII.
_VERBATIM = re.compile(r"%\([a-z_0-9]+\)[sd]|%[sd]|[a-z]+://\S+")
_CJK = re.compile(r"[\u3000-\u303f\u3400-\u9fff\uff00-\uffef]")


def _half_width_marks(text: str) -> list[str]:
    """The ASCII , ? ! ; : ( ) of a Chinese sentence, each with a little context: a
    parenthesis anywhere, the rest next to a Chinese character or ending the sentence
    (12:30 and 1,000 stay as they are)."""
    plain = _VERBATIM.sub("X", text)
    if not _CJK.search(plain):
        return []
    found = []
    for match in re.finditer(r"[,?!;:()]", plain):
        i = match.start()
        before, after = plain[i - 1 : i], plain[i + 1 :].lstrip()[:1]
        if match.group() in "()" or _CJK.match(before) or _CJK.match(after) or not after:
            found.append(plain[max(0, i - 6) : i + 6])
    return found


def test_chinese_sentences_use_full_width_punctuation() -> None:
    # Issue 16 item 8: "，？：（）", not ",?:()", in every Chinese string of the interface.
    with (CATALOG / "messages.po").open("rb") as fh:
        half_width = {
            _key(m): marks
            for m in read_po(fh, locale="zh")
            if m.id and (marks := _half_width_marks(" ".join(_strings(m))))
        }
    assert half_width == {}


def test_the_punctuation_check_finds_what_it_is_for() -> None:
    assert _half_width_marks("已发送 (5)") == ["已发送 (5)", "已发送 (5)"]
    assert _half_width_marks("状态:草稿") == ["状态:草稿"]
    assert _half_width_marks("确定吗?") == ["确定吗?"]
    assert _half_width_marks("12:30 发送，共 1,000 封（%(count)s）") == []
    assert _half_width_marks("每行一个：smtp://用户:密码@主机:端口") == []


def test_a_template_jinja_cannot_parse_stops_the_extraction(tmp_path: Path) -> None:
    # Left to its default, babel's Jinja extractor skips such a template without a word,
    # and the check above would pass while the template's strings went untranslated.
    pages = tmp_path / "templates" / "web"
    pages.mkdir(parents=True)
    (pages / "ok.html").write_text('{{ _("Fine") }}\n', encoding="utf-8")
    (pages / "broken.html").write_text('{{ _("Lost") }}\n{% if %}\n', encoding="utf-8")
    extraction = _run_extract(tmp_path, tmp_path / "messages.pot")
    assert extraction.returncode != 0
    assert "TemplateSyntaxError" in extraction.stderr


def test_a_count_column_is_never_headed_by_a_word_for_a_time() -> None:
    # Issue 16 item 8: one msgid served both "added on" (a date) and "added" (a count), so
    # the import table's count column read 「加入时间」. A number column's heading must be
    # a count in Chinese too.
    with (CATALOG / "messages.po").open("rb") as fh:
        zh = {str(m.id): m.string for m in read_po(fh, locale="zh") if m.id}
    count_heading = re.compile(r"<th class=\"num\">\{\{ _\('([^']+)'\) \}\}</th>")
    timed = sorted(
        f"{path.relative_to(ROOT)}: {msgid} → {zh.get(msgid)}"
        for path in (ROOT / "templates" / "web").rglob("*.html")
        for msgid in count_heading.findall(path.read_text(encoding="utf-8"))
        if str(zh.get(msgid, "")).endswith(("时间", "日期"))
    )
    assert timed == []


def test_no_template_types_ascii_brackets_around_a_translated_phrase() -> None:
    # 「(可选)」 and 「(会员单位的有效成员…)」: brackets typed in the template stay ASCII in
    # Chinese; the `parenthesised` filter gives each language its own.
    typed = re.compile(r"\(\{\{ (_\(|pct\()")
    found = [
        f"{path.relative_to(ROOT)}:{number}"
        for path in (ROOT / "templates" / "web").rglob("*.html")
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if typed.search(line)
    ]
    assert found == []
