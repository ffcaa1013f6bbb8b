"""Benchmark: how long the worst uploads the caps let through take, and the bombs they stop.

Run with ``.venv/bin/python bench/uploads.py``. Prints, for Word documents shaped to sit
just under ``DOCX_LIMITS`` (one-letter paragraphs, headed paragraphs: the shapes mammoth is
slowest on per byte), the seconds of the container check, of the conversion in the child
process and of the importer, and the child's peak memory; then how long a 64 MiB docx bomb
and a 65 MiB sheet take to be refused. The caps in ``service/containers.py`` were chosen
from these figures (issue 13, item 3).
"""

from __future__ import annotations

import resource
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from service.containers import DOCX_LIMITS, ContainerError, check_zip  # noqa: E402
from service.issues.importer import DocumentImportError, import_markdown  # noqa: E402
from service.issues.word_process import convert_in_child  # noqa: E402
from service.subscribers.tabular import FileFormatError, sniff  # noqa: E402
from tests.bombs import MIB, docx_bomb, replace_part, xlsx_bomb  # noqa: E402
from tests.documents import build_docx  # noqa: E402

_W = "http://schemas.openxmlformats.org/wordprocessingml/2006/main"
SHAPES = {
    "one-letter paragraphs": b"<w:p><w:r><w:t>a</w:t></w:r></w:p>",
    "headed paragraphs": (
        '<w:p><w:pPr><w:pStyle w:val="Heading1"/></w:pPr><w:r><w:t>标题</w:t></w:r></w:p>'
        "<w:p><w:r><w:t>正文一句。</w:t></w:r></w:p>"
    ).encode(),
}


def _at_the_cap(unit: bytes) -> bytes:
    head = f'<?xml version="1.0" encoding="UTF-8"?><w:document xmlns:w="{_W}"><w:body>'
    limit = DOCX_LIMITS.max_xml_elements or 0
    count = (limit - 10) // unit.count(b"<")
    return replace_part(
        build_docx([("Heading1", [("T", False, None)])]),
        "word/document.xml",
        [head.encode(), unit * count, b"</w:body></w:document>"],
    )


def main() -> None:
    """Print the figures."""
    for label, unit in SHAPES.items():
        data = _at_the_cap(unit)
        started = time.perf_counter()
        summary = check_zip(data, DOCX_LIMITS)
        checked = time.perf_counter()
        markdown = convert_in_child(data)
        converted = time.perf_counter()
        try:
            import_markdown(markdown)
        except DocumentImportError:
            pass  # one-letter paragraphs have no headings: the importer says so
        imported = time.perf_counter()
        peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss // 1024
        print(
            f"{label}: {summary.xml_elements:,} tags, {summary.unpacked_bytes / MIB:.1f} MiB; "
            f"check {checked - started:.2f} s, child {converted - checked:.2f} s, "
            f"importer {imported - converted:.2f} s; child peak ≤ {peak} MiB"
        )
    bomb = docx_bomb(64 * MIB)
    started = time.perf_counter()
    try:
        check_zip(bomb, DOCX_LIMITS)
    except ContainerError as exc:
        took = time.perf_counter() - started
        print(f"docx bomb ({len(bomb) // 1024} KB): refused in {took:.3f} s: {exc}")
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "bomb.upload"
        path.write_bytes(xlsx_bomb(65 * MIB))
        started = time.perf_counter()
        try:
            sniff(path)
        except FileFormatError as exc:
            print(f"xlsx bomb: refused in {time.perf_counter() - started:.3f} s: {exc}")


if __name__ == "__main__":
    main()
