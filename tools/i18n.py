"""Keep the translations in step with the code.

    python tools/i18n.py update    # extract strings, merge into zh, compile
    python tools/i18n.py compile   # compile .po to .mo only

English is the source language (msgids); zh is the default interface language.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
TRANSLATIONS = ROOT / "service" / "translations"
POT = TRANSLATIONS / "messages.pot"
BABEL = [sys.executable, "-m", "babel.messages.frontend"]
PO_WIDTH = 100


def extract() -> None:
    """Collect every translatable string into messages.pot."""
    subprocess.run(
        BABEL
        + [
            "extract",
            "-F",
            str(ROOT / "babel.cfg"),
            "-k",
            "_l",
            "-k",
            "lazy_gettext",
            "--no-location",
            "--sort-output",
            "--ignore-dirs",
            ".venv var node_modules",
            "-o",
            str(POT),
            str(ROOT),
        ],
        check=True,
        cwd=ROOT,
    )


def update() -> None:
    """Merge new strings into the zh catalogue (new ones are left empty to translate)."""
    po = TRANSLATIONS / "zh" / "LC_MESSAGES" / "messages.po"
    if not po.exists():
        subprocess.run(
            BABEL + ["init", "-i", str(POT), "-d", str(TRANSLATIONS), "-l", "zh"], check=True
        )
    else:
        subprocess.run(
            BABEL
            + [
                "update",
                "-i",
                str(POT),
                "-d",
                str(TRANSLATIONS),
                "--no-fuzzy-matching",
                "--ignore-obsolete",
                # The width `fill` writes with: the two must not rewrap each other's lines.
                "--width",
                str(PO_WIDTH),
            ],
            check=True,
        )


def compile_catalogs() -> None:
    """Build the .mo files Flask-Babel reads."""
    subprocess.run(BABEL + ["compile", "-d", str(TRANSLATIONS), "--statistics"], check=True)


def fill(json_path: str) -> None:
    """Set zh translations from a JSON object {msgid: msgstr} (only empty ones). A plural
    message (``ngettext``) is keyed by its singular msgid; Chinese has one plural form, so
    its one string serves every count."""
    import json

    from babel.messages.pofile import read_po, write_po

    po = TRANSLATIONS / "zh" / "LC_MESSAGES" / "messages.po"
    with po.open("rb") as fh:
        catalog = read_po(fh, locale="zh")
    for msgid, msgstr in json.loads(Path(json_path).read_text()).items():
        message = catalog.get(msgid)
        if message is not None and not _translated(message):
            message.string = (msgstr,) * catalog.num_plurals if message.pluralizable else msgstr
    with po.open("wb") as fh:
        write_po(fh, catalog, width=PO_WIDTH)


def untranslated() -> list[str]:
    """Msgids in the zh catalogue that have no translation yet."""
    from babel.messages.pofile import read_po

    po = TRANSLATIONS / "zh" / "LC_MESSAGES" / "messages.po"
    with po.open("rb") as fh:
        catalog = read_po(fh, locale="zh")
    return [str(m.id) for m in catalog if m.id and not _translated(m)]


def _translated(message: Any) -> bool:
    # A plural message's string is a tuple, one per plural form: ("",) is not translated.
    if isinstance(message.string, tuple | list):
        return all(message.string)
    return bool(message.string)


if __name__ == "__main__":
    action = sys.argv[1] if len(sys.argv) > 1 else "update"
    if action == "update":
        extract()
        update()
    elif action == "fill":
        fill(sys.argv[2])
    elif action == "missing":
        print("\n".join(untranslated()))
        sys.exit(1 if untranslated() else 0)
    compile_catalogs()
