"""The completeness check of an import: every sentence of the source document is either in the
structured issue (cover lines included) or in its list of removed furniture.
"""

from __future__ import annotations

from service.issues.blocks import (
    norm_key,
    parse_blocks,
    plain_text,
    split_sentences,
    strip_controls,
)
from service.issues.structure import IssueDoc


def sentences(text: str) -> list[str]:
    """Every sentence of a Markdown text, headings and short lines included, in order.

    Each block is split after sentence-final punctuation; an unterminated remainder (a title,
    a list item, half a sentence before a page break) counts as a sentence of its own.
    """
    out: list[str] = []
    for block in parse_blocks(strip_controls(text.lstrip("\ufeff"))):
        for line in block.lines if block.kind not in ("para", "heading") else [block.text]:
            out.extend(s for s in split_sentences(line) if norm_key(s))
    return out


def _doc_text_keys(doc: IssueDoc) -> str:
    parts: list[str] = [doc.journal, doc.number or "", doc.date or "", plain_text(doc.intro)]
    for section in doc.sections:
        parts += [section.title, plain_text(section.intro)]
        for article in section.articles:
            parts += [
                article.title,
                plain_text(article.body),
                (article.source_label or "") + (article.source or ""),
            ]
    parts += [label + value for label, value in doc.contact]
    # Cover lines are kept, as metadata: their sentences are accounted for.
    parts += doc.cover_lines
    # "\x00" separates parts so a match can never span two of them.
    return "\x00".join(norm_key(p) for p in parts)


def missing_sentences(source_markdown: str, doc: IssueDoc) -> list[str]:
    """Sentences of the source that are neither in the issue nor in ``doc.removed``.

    Comparison ignores spacing, punctuation and Markdown, so rejoined paragraphs and cleaned
    labels still match; an empty list proves that the import lost nothing.
    """
    present = _doc_text_keys(doc)
    removed = "\x00".join(norm_key(r) for r in doc.removed)
    masthead = [norm_key(x) for x in (doc.number or "", doc.date or "", doc.journal) if x]
    missing: list[str] = []
    for sentence in sentences(source_markdown):
        key = norm_key(sentence)
        if key in present or key in removed:
            continue
        # A masthead line ("季刊 / 2026 年第 1 期") is split into number, date and intro.
        for part in masthead:
            key = key.replace(part, "")
        if key and key not in present:
            missing.append(sentence)
    return missing
