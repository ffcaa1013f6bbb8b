"""A Word document that unpacks to far more than any journal is refused before mammoth
reads it, with the limit in the reason; an empty document is an error (issue 13, item 3)."""

from __future__ import annotations

import pytest

from service.issues import wordfile
from service.issues.importer import DocumentImportError, import_file
from tests.bombs import MIB, docx_bomb, forge_size
from tests.documents import build_docx


def test_a_docx_bomb_is_refused_with_the_limit_before_mammoth_reads_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def no_mammoth(*_args: object, **_kwargs: object) -> None:
        raise AssertionError("mammoth read the bomb")

    monkeypatch.setattr(wordfile.mammoth, "convert_to_html", no_mammoth)
    with pytest.raises(DocumentImportError) as caught:
        import_file("journal.docx", docx_bomb(64 * MIB))
    assert caught.value.code == "document.bad_docx"
    assert caught.value.params["error"].code == "container.part_too_large"
    assert "word/document.xml unpacks to more than 8 MB" in str(caught.value)


def test_a_docx_whose_document_lies_about_its_size_is_refused_as_damaged() -> None:
    forged = forge_size(docx_bomb(64 * MIB), "word/document.xml", 2048)
    with pytest.raises(DocumentImportError) as caught:
        import_file("journal.docx", forged)
    assert caught.value.params["error"].code == "container.damaged_part"


def test_a_word_document_without_any_text_is_an_error_not_an_empty_issue() -> None:
    with pytest.raises(DocumentImportError) as caught:
        import_file("blank.docx", build_docx([(None, [("", False, None)])]))
    assert caught.value.code in {"document.no_text", "document.empty"}
