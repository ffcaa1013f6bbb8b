"""The sentences of the journal: imported documents, editing an issue, its images, the
email layout.

One part of the catalogue of ``service.web.messages`` (its rules hold here)."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_babel.speaklater import LazyString

ISSUE_MESSAGES: dict[str, LazyString] = {
    # ---- issues: documents and editing
    "document.no_name": _l("The file has no name; import a .md or .docx file."),
    "document.too_large": _l("The file is larger than %(mb)s MB."),
    "document.no_articles": _l("No articles were found in the document."),
    "document.no_headings": _l(
        "No articles were found. Give each article title its own heading (Markdown '#' or a "
        "Word heading style) and import again."
    ),
    "document.empty": _l("The document is empty."),
    "document.no_text": _l("The document contains no text."),
    "document.bad_docx": _l("Cannot read the Word document: %(error)s"),
    "document.bad_utf16": _l("The text file is damaged (invalid UTF-16)."),
    "document.binary": _l("This is a binary file, not a Markdown text file."),
    "document.unknown_encoding": _l(
        "The text file could not be decoded; save it as UTF-8 (or GB18030) and import again."
    ),
    "document.old_doc": _l(
        "Old Word .doc files are not supported; save the document as .docx and import again."
    ),
    "document.bad_type": _l(
        "Unsupported file type “%(suffix)s”: import a Markdown (.md) or Word (.docx) file."
    ),
    "word.not_docx": _l("The file is not a .docx (Word 2007 or later) document."),
    "word.unreadable": _l("The .docx file could not be read (%(error)s)."),
    "issue.article_gone": _l("That article no longer exists; reload the page."),
    "issue.already_first": _l("The article is already the first one."),
    "issue.already_last": _l("The article is already the last one."),
    "issue.bad_direction": _l("Unknown direction."),
    "issue.no_title": _l("An article needs a title."),
    "issue.title_too_long": _l("The title is longer than %(max)s characters."),
    "issue.source_too_long": _l("The source is longer than %(max)s characters."),
    "issue.section_gone": _l("That section no longer exists; reload the page."),
    "issue.publish_empty": _l("An issue without articles cannot be published."),
    "issue.duplicate": _l(
        "This document was already imported as issue %(issue_id)s (%(title)s %(number)s, "
        "imported %(imported_at)s)."
    ),
    "issue.in_use": _l(
        "Issue %(issue_id)s cannot be deleted: it is used by campaign(s) %(campaigns)s."
    ),
    "issue.cover_too_many": _l("Keep the cover to %(max)s lines."),
    "issue.cover_line_too_long": _l("A cover line is longer than %(max)s characters."),
    "issue.section_already_first": _l("The section is already the first one."),
    "issue.section_already_last": _l("The section is already the last one."),
    "issue.section_no_title": _l("A section needs a name."),
    "issue.section_title_too_long": _l("The section name is longer than %(max)s characters."),
    "issue.no_issue_title": _l("The issue needs a title."),
    "issue.number_too_long": _l("The number is longer than %(max)s characters."),
    "issue.bad_date": _l("Write the date as year-month-day, e.g. 2026-03-31."),
    "issue.no_such_date": _l("There is no such day as %(date)s."),
    "issue.undo_gone": _l("There is nothing to undo any more; the deletion stays."),
    "image.too_large": _l("The image is %(size)s KB; at most %(limit)s KB."),
    "image.not_an_image": _l("The file is not an image (PNG, JPEG, GIF or WebP)."),
    "image.wrong_type": _l("Images of type %(mime)s are not taken; use PNG, JPEG, GIF or WebP."),
    "image.bad_dimensions": _l(
        "The image is %(width)s × %(height)s pixels; each side must be 1 to %(limit)s."
    ),
    "image.none_chosen": _l("Choose an image file to upload."),
    "image.no_alt": _l("Describe the image in a few words, for readers who do not see it."),
    "image.alt_too_long": _l("The description is longer than %(max)s characters."),
    # ---- the email layout (per field)
    "layout.control_chars": _l("Control characters are not allowed."),
    "layout.too_long": _l("This is too long."),
    "layout.bad_colour": _l("A colour like #1d4f91 (# and 3 or 6 hexadecimal digits)."),
    "layout.bad_logo_url": _l("An image address starting with https:// (or http://)."),
    "layout.bad_email": _l("An email address like service@example.org."),
    "layout.bad_website": _l("A web address starting with http://, https:// or www."),
    "layout.bad_language": _l("Choose one of the offered languages."),
}
