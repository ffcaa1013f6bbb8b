"""The cleaning of a converted document's blocks before its structure is read: paragraphs and
headings cut by page breaks are joined again, lists typed as one paragraph per item become
lists, and short bold paragraphs become headings.

Plain functions over blocks (see ``blocks.py``); the importer calls them once the masthead,
the furniture and the contact block are taken out.
"""

from __future__ import annotations

from service.issues.blocks import (
    NUMBERED_RE,
    Block,
    display_width,
    ends_paragraph,
    join_text,
    norm_key,
)
from service.issues.import_rules import (
    ENUMERATION_RE,
    MAX_HEADING_TAIL_WIDTH,
    MAX_LIST_ITEM_WIDTH,
    MAX_PSEUDO_HEADING_WIDTH,
    MIN_BROKEN_WIDTH,
    MIN_LIST_RUN,
    PSEUDO_HEADING_LEVEL,
    SENTENCE_PUNCT_RE,
    SOFT_END,
    is_bold_only,
    is_toc_keyword,
    section_marker,
    source_line,
)


def is_special(block: Block) -> bool:
    return (
        section_marker(block) is not None or source_line(block) is not None or is_toc_keyword(block)
    )


def continues(prev: Block, nxt: Block) -> bool:
    """True if nxt is the rest of prev, cut off by a page break."""
    if prev.kind != "para" or nxt.kind != "para":
        return False
    if is_special(prev) or is_special(nxt) or NUMBERED_RE.match(nxt.text):
        return False
    if ends_paragraph(prev.text):
        # A semicolon ends list items ("（一）…；"), but in running prose it only ends a
        # clause: a long paragraph stopping on one, followed by prose that is not the next
        # enumerated item ("二是…"), was cut by a page break.
        return (
            prev.text.rstrip()[-1] in SOFT_END
            and display_width(prev.text) >= MIN_BROKEN_WIDTH
            and not ENUMERATION_RE.match(nxt.text)
        )
    if prev.md.rstrip().endswith(")") and "![" in prev.md or nxt.md.lstrip().startswith("!["):
        return False  # an image paragraph ends with its own markup, not with a sentence
    if display_width(prev.text) >= MIN_BROKEN_WIDTH:
        return True
    # A Latin sentence that goes on in lower case is a continuation whatever its length.
    return nxt.text[:1].islower()


def heading_continues(prev: Block, nxt: Block, title_keys: set[str]) -> bool:
    """True if nxt is the tail of a heading broken over two lines."""
    if prev.kind != "heading" or nxt.kind != "heading" or prev.level != nxt.level:
        return False
    if ends_paragraph(prev.text) or section_marker(prev) or section_marker(nxt):
        return False
    if norm_key(prev.text + nxt.text) in title_keys:
        return True
    # Without a TOC: only a long heading wraps, and only a few characters spill over.
    return (
        display_width(prev.text) >= MIN_BROKEN_WIDTH
        and display_width(nxt.text) <= MAX_HEADING_TAIL_WIDTH
        and not NUMBERED_RE.match(nxt.text)
        and norm_key(nxt.text) not in title_keys
    )


def rejoin(content: list[Block], title_keys: set[str]) -> list[Block]:
    out: list[Block] = []
    for block in content:
        if out and (continues(out[-1], block) or heading_continues(out[-1], block, title_keys)):
            prev = out[-1]
            out[-1] = Block(
                prev.kind,
                join_text(prev.text, block.text),
                join_text(prev.md, block.md),
                prev.level,
                prev.lines + block.lines,
            )
        else:
            out.append(block)
    return out


def _is_list_line(block: Block) -> bool:
    return (
        block.kind == "para"
        and len(block.lines) == 1
        and display_width(block.text) <= MAX_LIST_ITEM_WIDTH
        and not ends_paragraph(block.text)
        and not SENTENCE_PUNCT_RE.search(block.text)
        and not NUMBERED_RE.match(block.text)
        and "![" not in block.md
        and not is_special(block)
    )


def lists(content: list[Block]) -> list[Block]:
    """Turn a run of short unpunctuated one-line paragraphs into a bullet list.

    Word users type lists (names of member companies, say) as one paragraph per item;
    as separate paragraphs they render with paragraph spacing and read like broken text.
    """
    out: list[Block] = []
    run: list[Block] = []

    def flush() -> None:
        if len(run) >= MIN_LIST_RUN:
            md = "\n".join("- " + b.md for b in run)
            out.append(Block("list", "\n".join(b.text for b in run), md, 0, [b.text for b in run]))
        else:
            out.extend(run)
        run.clear()

    for block in content:
        if _is_list_line(block):
            run.append(block)
        else:
            flush()
            out.append(block)
    flush()
    return out


def pseudo_headings(content: list[Block]) -> list[Block]:
    """A short paragraph that is entirely bold and has no final punctuation is a heading."""
    out: list[Block] = []
    for block in content:
        if (
            block.kind == "para"
            and is_bold_only(block)
            and not ends_paragraph(block.text)
            and display_width(block.text) <= MAX_PSEUDO_HEADING_WIDTH
            and not is_special(block)
        ):
            out.append(
                Block(
                    "heading",
                    block.text,
                    block.md.strip()[2:-2].strip(),
                    PSEUDO_HEADING_LEVEL,
                    block.lines,
                )
            )
        else:
            out.append(block)
    return out
