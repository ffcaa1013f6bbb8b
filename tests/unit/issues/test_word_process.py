"""A .docx being imported is converted in a child process that the kernel stops at a
memory limit and the parent at a time limit: the web request answers with a clear error
either way (issue 13, item 3)."""

from __future__ import annotations

import pytest

from service.containers import MB, ContainerError
from service.issues import word_process
from service.issues.importer import DocumentImportError, import_file
from service.issues.wordfile import WordConversionError, docx_to_markdown
from tests.bombs import MIB, docx_bomb, replace_part, zip_of
from tests.documents import build_docx

_W = "http://schemas.openxmlformats.org/wordprocessingml/2006/main"


def _many_paragraphs(count: int) -> bytes:
    """A valid .docx of ``count`` headed paragraphs: real work for mammoth, under the caps."""
    head = f'<?xml version="1.0" encoding="UTF-8"?><w:document xmlns:w="{_W}"><w:body>'
    unit = (
        '<w:p><w:pPr><w:pStyle w:val="Heading1"/></w:pPr><w:r><w:t>标题</w:t></w:r></w:p>'
        "<w:p><w:r><w:t>正文一句。</w:t></w:r></w:p>"
    )
    return replace_part(
        build_docx([("Heading1", [("T", False, None)])]),
        "word/document.xml",
        [head.encode(), unit.encode() * count, b"</w:body></w:document>"],
    )


def test_the_child_gives_the_same_markdown_as_converting_in_process() -> None:
    data = build_docx(
        [
            ("Heading1", [("第一篇", False, None)]),
            (None, [("正文，", False, None), ("粗", True, None)]),
        ]
    )
    assert word_process.convert_in_child(data) == docx_to_markdown(data)


def test_a_child_past_its_memory_limit_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(word_process, "CONVERT_MEMORY_BYTES", 48 * MB)
    with pytest.raises(ContainerError) as caught:
        word_process.convert_in_child(_many_paragraphs(4000))
    assert caught.value.code == "container.too_much_memory"
    assert "more than 48 MB of memory" in str(caught.value)


def test_a_child_past_its_time_limit_is_killed_with_a_clear_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(word_process, "CONVERT_SECONDS", 0.05)  # less than starting Python
    with pytest.raises(ContainerError) as caught:
        word_process.convert_in_child(_many_paragraphs(4000))
    assert caught.value.code == "container.too_slow"


def test_the_childs_refusals_come_back_as_the_same_errors() -> None:
    some_other_zip = zip_of({"notes.txt": [b"not a Word document"]})
    with pytest.raises(WordConversionError) as refused:
        word_process.convert_in_child(some_other_zip)  # mammoth's KeyError, in the child
    assert refused.value.code == "word.unreadable" and "main document part" in str(refused.value)
    with pytest.raises(DocumentImportError) as caught:
        import_file("bomb.docx", docx_bomb(64 * MIB), isolated=True)
    assert caught.value.params["error"].code == "container.part_too_large"
