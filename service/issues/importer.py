"""Import an author's document (Markdown or Word) into a structured issue (:class:`IssueDoc`).

This module reads the file: it picks the format from the name, decodes a text file, converts
a Word file to Markdown (in a child process for an upload) and hands the Markdown's blocks to
``import_structure``, which reads the issue's structure (its steps are described there).
``sentences`` checks afterwards that nothing was lost.
"""

from __future__ import annotations

import codecs
from pathlib import PurePath

from service.containers import ContainerError
from service.errors import DomainError
from service.issues.blocks import parse_blocks, strip_controls
from service.issues.import_structure import read_structure
from service.issues.structure import IssueDoc
from service.issues.word_process import convert_in_child
from service.issues.wordfile import ImageSaver, WordConversionError, docx_to_markdown

MARKDOWN_SUFFIXES = {".md", ".markdown", ".mdown", ".mkd", ".txt"}
DOCX_SUFFIXES = {".docx"}


class DocumentImportError(DomainError, ValueError):
    """The document cannot be imported; the message says why in words an editor understands."""


def _binary_document() -> DocumentImportError:
    return DocumentImportError(
        "document.binary", "This is a binary file, not a Markdown text file."
    )


def import_markdown(text: str) -> IssueDoc:
    """Import a Markdown document (already decoded) into a structured issue."""
    text = strip_controls(text.lstrip("\ufeff").replace("\r\n", "\n").replace("\r", "\n"))
    if not text.strip():
        raise DocumentImportError("document.empty", "The document is empty.")
    blocks = [b for b in parse_blocks(text) if b.kind == "hr" or b.text.strip()]
    if not any(b.text for b in blocks):
        raise DocumentImportError("document.no_text", "The document contains no text.")
    doc = read_structure(blocks)
    if not any(s.articles for s in doc.sections):
        raise DocumentImportError(
            "document.no_headings",
            "No articles were found. Give each article title its own heading "
            "(Markdown '#' or a Word heading style) and import again.",
        )
    return doc


def docx_markdown(
    data: bytes, save_image: ImageSaver | None = None, *, isolated: bool = False
) -> str:
    """The Markdown that a .docx file is imported from (what missing_sentences checks).

    ``isolated`` converts in a child process with a time and memory limit (an upload
    being imported; without ``save_image``, which the child cannot call back).
    """
    if not data:
        raise DocumentImportError("document.empty", "The document is empty.")
    try:
        if isolated and save_image is None:
            return convert_in_child(data)
        return docx_to_markdown(data, save_image)
    except (WordConversionError, ContainerError) as exc:
        raise DocumentImportError(
            "document.bad_docx", "Cannot read the Word document: %(error)s.", error=exc.detail
        ) from exc


def import_docx(
    data: bytes, save_image: ImageSaver | None = None, *, isolated: bool = False
) -> IssueDoc:
    """Import a Word .docx document (heading styles mark sections, titles and subheadings).

    ``save_image(data, content_type) -> url`` stores embedded images; without it they are
    kept inline as ``data:`` URIs. ``isolated``: see :func:`docx_markdown`.
    """
    return import_markdown(docx_markdown(data, save_image, isolated=isolated))


def decode_text(data: bytes) -> str:
    """Decode a text document: UTF-8 (with or without BOM), UTF-16 with BOM, or GB18030."""
    if not data.strip():
        raise DocumentImportError("document.empty", "The document is empty.")
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        try:
            return data.decode("utf-16")
        except UnicodeDecodeError as exc:
            raise DocumentImportError(
                "document.bad_utf16", "The text file is damaged (invalid UTF-16)."
            ) from exc
    if b"\x00" in data:
        raise _binary_document()
    # UTF-8 first: it is strict enough that a GB18030 file essentially never decodes as UTF-8,
    # while GB18030 accepts most byte sequences and therefore has to come last.
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            text = data.decode(encoding)
        except UnicodeDecodeError:
            continue
        controls = sum(1 for ch in text if ord(ch) < 32 and ch not in "\t\n\r\f")
        if controls > max(2, len(text) // 100):
            raise _binary_document()
        return text
    raise DocumentImportError(
        "document.unknown_encoding",
        "The text file could not be decoded; save it as UTF-8 (or GB18030) and import again.",
    )


def import_file(
    path_or_name: str,
    data: bytes,
    save_image: ImageSaver | None = None,
    *,
    isolated: bool = False,
) -> IssueDoc:
    """Import an uploaded file, choosing the format from its name (.md/.markdown/.txt, .docx).

    ``save_image`` and ``isolated`` are passed to :func:`import_docx` for Word files.
    """
    suffix = PurePath(path_or_name).suffix.lower()
    if suffix in DOCX_SUFFIXES:
        return import_docx(data, save_image, isolated=isolated)
    if suffix in MARKDOWN_SUFFIXES:
        return import_markdown(decode_text(data))
    if suffix == ".doc":
        raise DocumentImportError(
            "document.old_doc",
            "Old Word .doc files are not supported; save the document as .docx and import again.",
        )
    raise DocumentImportError(
        "document.bad_type",
        "Unsupported file type %(suffix)r: import a Markdown (.md) or Word (.docx) file.",
        suffix=suffix or "(none)",
    )


def source_markdown(path_or_name: str, data: bytes) -> str:
    """The Markdown text an uploaded file is imported from (for missing_sentences)."""
    if PurePath(path_or_name).suffix.lower() in DOCX_SUFFIXES:
        return docx_markdown(data)
    return decode_text(data)
