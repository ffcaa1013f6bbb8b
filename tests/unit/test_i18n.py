"""Every string a person sees in the admin and public pages has a Chinese translation."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from babel.messages.mofile import read_mo
from babel.messages.pofile import read_po

ROOT = Path(__file__).resolve().parent.parent.parent
CATALOG = ROOT / "service" / "translations" / "zh" / "LC_MESSAGES"


def _extract(tmp_path: Path) -> set[str]:
    pot = tmp_path / "messages.pot"
    subprocess.run(
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
        cwd=ROOT,
        check=True,
        capture_output=True,
    )
    with pot.open("rb") as fh:
        return {str(m.id) for m in read_po(fh) if m.id}


def test_every_translatable_string_has_a_chinese_translation(tmp_path: Path) -> None:
    wanted = _extract(tmp_path)
    with (CATALOG / "messages.po").open("rb") as fh:
        catalog = {str(m.id): m.string for m in read_po(fh, locale="zh") if m.id}
    missing = sorted(m for m in wanted if not catalog.get(m))
    assert not missing, "untranslated (run tools/i18n.py update and translate):\n" + "\n".join(
        missing
    )


def test_the_compiled_catalogue_matches_the_po_file() -> None:
    with (CATALOG / "messages.po").open("rb") as fh:
        po = {str(m.id): m.string for m in read_po(fh, locale="zh") if m.id and m.string}
    with (CATALOG / "messages.mo").open("rb") as fh:
        mo = {str(m.id): m.string for m in read_mo(fh) if m.id}
    assert po == mo, "messages.mo is stale: run python tools/i18n.py compile"
