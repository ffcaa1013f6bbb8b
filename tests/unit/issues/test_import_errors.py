"""Files that cannot be imported fail with a DocumentImportError that says what to do."""

from __future__ import annotations

import io
import zipfile

import pytest

from service.issues.importer import DocumentImportError, import_docx, import_file, import_markdown


@pytest.mark.parametrize("data", [b"", b"   \n\n\t  \n", "\ufeff\n".encode()])
def test_empty_markdown_is_rejected_as_empty(data: bytes) -> None:
    with pytest.raises(DocumentImportError, match="empty"):
        import_file("issue.md", data)


def test_binary_garbage_named_md_is_rejected_as_binary() -> None:
    garbage = bytes(range(256)) * 8  # contains NUL bytes, like any image or archive
    with pytest.raises(DocumentImportError, match="binary file"):
        import_file("issue.md", garbage)


def test_bytes_that_are_neither_utf8_nor_gb18030_are_rejected_as_undecodable() -> None:
    with pytest.raises(DocumentImportError, match="could not be decoded"):
        import_file("issue.md", bytes(range(0x80, 0x100)) * 4)


def test_text_without_any_heading_is_rejected_with_advice() -> None:
    with pytest.raises(DocumentImportError, match="No articles were found"):
        import_markdown("只有一段文字，没有任何标题。\n\n第二段也没有。\n")


def test_empty_docx_bytes_are_rejected_as_empty() -> None:
    with pytest.raises(DocumentImportError, match="empty"):
        import_docx(b"")


def test_docx_that_is_not_a_zip_is_rejected() -> None:
    with pytest.raises(DocumentImportError, match=r"not a \.docx"):
        import_file("issue.docx", b"PK? no, just text pretending")


def test_zip_without_a_word_document_is_rejected() -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("notes.txt", "hello")
    with pytest.raises(DocumentImportError, match="could not be read"):
        import_file("issue.docx", buffer.getvalue())


def test_old_binary_word_format_asks_for_docx() -> None:
    with pytest.raises(DocumentImportError, match=r"save the document as \.docx"):
        import_file("issue.doc", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1")


@pytest.mark.parametrize("name", ["issue.pdf", "issue", "issue.html"])
def test_unsupported_file_types_name_the_supported_ones(name: str) -> None:
    with pytest.raises(DocumentImportError, match=r"Markdown \(\.md\) or Word \(\.docx\)"):
        import_file(name, b"# Title\n\nText.\n")


def test_document_import_error_is_a_value_error_for_generic_callers() -> None:
    assert issubclass(DocumentImportError, ValueError)
