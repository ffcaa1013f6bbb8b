"""Documents as staff bring them: the demo issue, sample files, and a tiny .docx writer
(what Word itself would read), for the importer tests and the acceptance tests."""

from __future__ import annotations

import io
import zipfile
from collections.abc import Sequence
from pathlib import Path
from xml.sax.saxutils import escape, quoteattr

REPO = Path(__file__).resolve().parents[1]
DEMO_PATH = REPO / "demo" / "dldta-2026-q1.md"
DATA = REPO / "tests" / "data" / "issues"
HARBOUR_PATH = DATA / "harbour-letter.md"

# A run of text: (text, bold, link target or None). A run whose link is IMAGE is an inline
# PNG picture with the text as its alt text.
Run = tuple[str, bool, str | None]
IMAGE = "image:"
# The smallest valid PNG (1×1, transparent): Word stores the real bytes of a picture.
PNG_1X1 = bytes.fromhex(
    "89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c489"
    "0000000d4944415478da63f8ffff3f0005fe02fea7d6a4820000000049454e44ae426082"
)
_DRAWING = (
    '<w:drawing><wp:inline xmlns:wp="http://schemas.openxmlformats.org/drawingml/2006/'
    'wordprocessingDrawing"><wp:extent cx="9525" cy="9525"/>'
    '<wp:docPr id="{n}" name="Picture {n}" descr={alt}/>'
    '<a:graphic xmlns:a="http://schemas.openxmlformats.org/drawingml/2006/main">'
    '<a:graphicData uri="http://schemas.openxmlformats.org/drawingml/2006/picture">'
    '<pic:pic xmlns:pic="http://schemas.openxmlformats.org/drawingml/2006/picture">'
    '<pic:blipFill><a:blip r:embed="rIdImage{n}"/></pic:blipFill></pic:pic>'
    "</a:graphicData></a:graphic></wp:inline></w:drawing>"
)
# A paragraph: (style id or None, runs).
Paragraph = tuple[str | None, Sequence[Run]]

_W = "http://schemas.openxmlformats.org/wordprocessingml/2006/main"
_R = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"

_CONTENT_TYPES = """<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">
<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>
<Default Extension="xml" ContentType="application/xml"/>
<Default Extension="png" ContentType="image/png"/>
<Override PartName="/word/document.xml"
 ContentType="application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"/>
<Override PartName="/word/styles.xml"
 ContentType="application/vnd.openxmlformats-officedocument.wordprocessingml.styles+xml"/>
</Types>"""

_PACKAGE_RELS = """<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">
<Relationship Id="rId1"
 Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument"
 Target="word/document.xml"/>
</Relationships>"""

# Style ids are what paragraphs reference; names are what mammoth maps to <h1>…<h6>.
_STYLES = {
    "Title": "Title",
    "Heading1": "heading 1",
    "Heading2": "heading 2",
    "Heading3": "heading 3",
    "Heading4": "heading 4",
    "Heading5": "heading 5",
    "Heading6": "heading 6",
}


def _styles_xml() -> str:
    styles = "".join(
        f'<w:style w:type="paragraph" w:styleId="{sid}"><w:name w:val="{name}"/></w:style>'
        for sid, name in _STYLES.items()
    )
    return (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
        f'<w:styles xmlns:w="{_W}">{styles}</w:styles>'
    )


def build_docx(paragraphs: Sequence[Paragraph]) -> bytes:
    """Write a minimal but valid WordprocessingML package (what Word itself would read)."""
    links: list[str] = []
    images = 0
    body: list[str] = []
    for style, runs in paragraphs:
        ppr = f'<w:pPr><w:pStyle w:val="{style}"/></w:pPr>' if style else ""
        xml_runs: list[str] = []
        for text, bold, href in runs:
            rpr = "<w:rPr><w:b/></w:rPr>" if bold else ""
            run = f'<w:r>{rpr}<w:t xml:space="preserve">{escape(text)}</w:t></w:r>'
            if href == IMAGE:
                images += 1
                run = f"<w:r>{_DRAWING.format(n=images, alt=quoteattr(text))}</w:r>"
            elif href:
                links.append(href)
                run = f'<w:hyperlink r:id="rIdLink{len(links)}">{run}</w:hyperlink>'
            xml_runs.append(run)
        body.append(f"<w:p>{ppr}{''.join(xml_runs)}</w:p>")
    document = (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
        f'<w:document xmlns:w="{_W}" xmlns:r="{_R}"><w:body>{"".join(body)}</w:body></w:document>'
    )
    rels = "".join(
        f'<Relationship Id="rIdLink{n}" TargetMode="External" Target={quoteattr(href)} '
        'Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/hyperlink"/>'
        for n, href in enumerate(links, start=1)
    ) + "".join(
        f'<Relationship Id="rIdImage{n}" Target="media/image{n}.png" '
        'Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/image"/>'
        for n in range(1, images + 1)
    )
    document_rels = (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
        '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
        '<Relationship Id="rIdStyles" Target="styles.xml" '
        'Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/styles"/>'
        f"{rels}</Relationships>"
    )
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as package:
        package.writestr("[Content_Types].xml", _CONTENT_TYPES)
        package.writestr("_rels/.rels", _PACKAGE_RELS)
        package.writestr("word/document.xml", document)
        package.writestr("word/styles.xml", _styles_xml())
        package.writestr("word/_rels/document.xml.rels", document_rels)
        for n in range(1, images + 1):
            package.writestr(f"word/media/image{n}.png", PNG_1X1)
    return buffer.getvalue()


def heavy_docx(articles: int = 180, headings: bool = True) -> bytes:
    """A Word document whose body is large enough for the worker to import it (an
    article of 58 paragraphs each, under a heading unless ``headings`` is False)."""
    paragraphs: list[Paragraph] = []
    for a in range(articles):
        if headings:
            paragraphs.append(("Heading1", [(f"第{a}篇文章的标题", False, None)]))
        paragraphs += [
            (None, [(f"第{a}篇第{p}段正文，说明一件事情。", False, None)]) for p in range(58)
        ]
        paragraphs.append((None, [("文章来源：国际商报", False, None)]))
    return build_docx(paragraphs)
