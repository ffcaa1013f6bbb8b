"""The sentences of the audience: addresses, lists, subscribers, segments, suppressions,
subscriber imports and the files and containers they come in.

One part of the catalogue of ``service.web.messages`` (its rules hold here)."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_babel.speaklater import LazyString

AUDIENCE_MESSAGES: dict[str, LazyString] = {
    # ---- addresses
    "address.empty": _l("The address is empty."),
    "address.line_break": _l("The address contains a line break or a NUL character."),
    "address.invalid": _l("The address is not well-formed (%(reason)s)."),
    "address.has_space": _l("The address holds a space."),
    "address.no_at": _l("The address has no @."),
    "address.nothing_before_at": _l("Nothing comes before the @."),
    "address.nothing_after_at": _l("Nothing comes after the @."),
    "address.domain_without_period": _l(
        "The part after the @ has no period (a domain such as example.com)."
    ),
    "address.bad_top_level_domain": _l(
        "The part after the @ does not end in a valid top-level domain (.com, .cn …)."
    ),
    "address.reserved_domain": _l(
        "The part after the @ is a reserved name that cannot receive mail."
    ),
    "address.two_periods": _l("The address has two periods in a row."),
    "address.starts_with_period": _l("The address starts with a period."),
    "address.ends_with_period": _l("The address ends with a period."),
    "address.period_before_at": _l("A period comes right before the @."),
    "address.period_after_at": _l("A period comes right after the @."),
    "address.hyphen_after_at": _l("A hyphen comes right after the @."),
    "address.ends_with_hyphen": _l("The address ends with a hyphen."),
    "address.period_next_to_hyphen": _l("A period and a hyphen stand next to each other."),
    "address.bad_characters_before_at": _l(
        "Characters that an address cannot hold come before the @: %(detail)s."
    ),
    "address.bad_characters_after_at": _l(
        "Characters that a domain cannot hold come after the @: %(detail)s."
    ),
    "address.unsafe_characters": _l(
        "The address holds invisible or unsafe characters: %(detail)s."
    ),
    "address.full_width_at": _l("The address has a full-width ＠; type it with the half-width @."),
    "address.lookalike_at": _l(
        "The address has a look-alike of the @ sign; type it with the half-width @."
    ),
    "address.with_display_name": _l("Enter the address alone, without a name or angle brackets."),
    "address.domain_too_long": _l("The part after the @ is too long."),
    "address.too_long": _l("The address is too long."),
    "address.text_after_address": _l("Something follows the address; enter one address only."),
    "address.quoted_local_part": _l("The part before the @ is in quotes, which is not accepted."),
    "address.bad_idna": _l("The part after the @ is not a valid international domain name."),
    "address.double_hyphen": _l(
        "Two hyphens follow two letters after the @ or a period (only xn-- may)."
    ),
    "address.unclosed_angle_bracket": _l("The < before the address has no > after it."),
    "address.domain_label_too_long": _l(
        "A part of the domain between periods is longer than 63 characters."
    ),
    "address.ip_literal": _l(
        "An IP address in brackets after the @ is not accepted; use a domain name."
    ),
    "address.bad_domain": _l(
        "The domain “%(domain)s” is not a valid internationalised name (%(reason)s)."
    ),
    # ---- lists, subscribers, suppressions
    "list.no_name": _l("A list needs a name."),
    "list.name_too_long": _l("The name is longer than %(max)s characters."),
    "list.bad_slug": _l(
        "The slug may contain only a-z, 0-9, “-” and “_” (at most 64 characters, starting "
        "with a letter or digit)."
    ),
    "list.slug_taken": _l("A list with the slug “%(slug)s” already exists."),
    "list.missing": _l("There is no list %(list_id)s."),
    "organisation.bad_level": _l("The membership level must be one of %(levels)s."),
    # ---- segments
    "segment.not_a_list": _l("The conditions must be a JSON list."),
    "segment.too_many": _l("A segment has at most %(max)s conditions."),
    "segment.not_an_object": _l("Condition %(n)s must be a JSON object with a kind."),
    "segment.unknown_kind": _l("Condition %(n)s: unknown kind “%(kind)s” (one of %(kinds)s)."),
    "segment.unknown_field": _l("Condition %(n)s: unknown field %(field)s."),
    "segment.missing_value": _l("Condition %(n)s: %(field)s is missing."),
    "segment.bad_levels": _l("Condition %(n)s: the levels must be a list of levels."),
    "segment.unknown_level": _l("Condition %(n)s: the levels must be among %(levels)s."),
    "segment.not_text": _l("Condition %(n)s: give text, not a list."),
    "segment.bad_text": _l("Condition %(n)s: give between 1 and %(max)s characters."),
    "segment.bad_key": _l('Condition %(n)s: an attribute key cannot contain " or \\.'),
    "segment.bad_last": _l(
        "Condition %(n)s: the number of campaigns must be a whole number from 1 to %(max)s."
    ),
    "segment.missing": _l("There is no segment %(segment_id)s."),
    "segment.no_name": _l("A segment needs a name."),
    "segment.name_too_long": _l("The name is longer than %(max)s characters."),
    "segment.name_taken": _l("A segment named “%(name)s” already exists."),
    "segment.in_use": _l(
        "The segment is used by campaigns that have not finished (%(campaigns)s); it can be "
        "deleted once they finish or are cancelled."
    ),
    "campaign.unknown_segment": _l("There is no segment %(segment_id)s."),
    "list.override_needs_admin": _l(
        "Only an admin can make a public list single opt-in. Nothing was changed."
    ),
    "list.override_needs_reason": _l(
        "A public list is double opt-in. To make it single opt-in, give the reason (it is "
        "kept in the audit log). Nothing was changed."
    ),
    "list.reason_too_long": _l("The reason is longer than %(max)s characters."),
    "profile.erased": _l("This subscriber was erased; there is nothing to edit."),
    "bulk.unknown_action": _l("Unknown action “%(action)s”."),
    "bulk.no_list": _l("Choose a list for this action."),
    "bulk.too_many": _l("Select at most %(max)s rows, or act on the whole filter."),
    "bulk.nothing_selected": _l("Nothing is selected."),
    "suppression.no_reason": _l("Say why this address may be mailed again."),
    "suppression.gone": _l("That suppression no longer exists."),
    # ---- subscriber imports
    "import.bad_map_option": _l("--map wants COLUMN=FIELD, got “%(option)s”."),
    "import.no_column": _l("There is no column “%(column)s”; the columns are: %(columns)s."),
    "import.no_email_column": _l("No column is mapped to the email address."),
    "import.two_email_columns": _l("Only one column can be the email address."),
    "import.no_list": _l("There is no list “%(list)s”."),
    "import.list_archived": _l("The list “%(slug)s” is archived."),
    "import.bad_mode": _l("The mode must be one of %(modes)s."),
    "import.list_deleted": _l("The list was deleted before the import ran."),
    "import.queue_unreachable": _l("The task queue is unreachable; try again."),
    "import.stopped": _l("The import stopped: %(error)s"),
    # ---- subscriber imports: why a row was not imported
    "import.row_too_wide": _l(
        "This row has %(fields)s fields but the header has %(width)s; check the delimiter and "
        "the quotes."
    ),
    "import.no_address": _l("No email address."),
    "import.bad_address": _l("Invalid address “%(address)s”: %(error)s"),
    "import.duplicate": _l("%(email)s appears earlier in the file (compared ignoring case)."),
    "file.empty": _l("The file is empty."),
    "file.xls": _l("This is an old Excel .xls (or Word) file: save it as .xlsx or CSV."),
    "file.pdf": _l("This is a PDF document, not a CSV or XLSX file."),
    "file.png": _l("This is a PNG image, not a CSV or XLSX file."),
    "file.jpeg": _l("This is a JPEG image, not a CSV or XLSX file."),
    "file.gzip": _l("This is a gzip archive, not a CSV or XLSX file."),
    "file.binary": _l("This is a binary file, not a CSV or XLSX file."),
    "file.bad_utf8": _l("The file starts with a UTF-8 mark but is not valid UTF-8."),
    "file.bad_utf16": _l("The file starts with a UTF-16 mark but is not valid UTF-16."),
    "file.unknown_encoding": _l(
        "The file is neither UTF-8 nor GB18030/GBK text; save it from Excel as “CSV UTF-8” "
        "or as .xlsx."
    ),
    "file.no_rows": _l("The file has no rows."),
    "file.bad_quoting": _l(
        "Line %(line)s: the CSV quoting is broken; check for an unclosed quote."
    ),
    # The library's own sentence (English) stays in the logs and the API: the page says
    # what to do.
    "file.bad_workbook": _l(
        "The workbook cannot be opened: it is damaged or not an Excel workbook. Open it in "
        "Excel or WPS and save it again as .xlsx."
    ),
    "file.no_data_rows": _l("The file has a header row but no data rows."),
    "file.nothing_read": _l("No data rows were read from the file."),
    "file.too_many_rows": _l("The sheet has more than %(max)s rows."),
    "file.too_many_columns": _l("Row %(line)s has values in more than %(max)s columns."),
    "file.workbook_refused": _l("The workbook cannot be imported: %(error)s"),
    # ---- uploaded containers (.docx, .xlsx): refused before parsing (service.containers)
    "container.damaged": _l(
        "The file is not a readable ZIP container (.docx and .xlsx files are)."
    ),
    "container.damaged_part": _l("Its part %(part)s is damaged (%(error)s)."),
    "container.too_many_parts": _l(
        "The file holds more than %(max)s parts, far more than a real document."
    ),
    "container.part_too_large": _l("Its part %(part)s unpacks to more than %(mb)s MB."),
    "container.bomb": _l(
        "Its part %(part)s is compressed %(ratio)s to 1, as no real document is "
        "(a decompression bomb)."
    ),
    "container.too_large": _l("The file unpacks to more than %(mb)s MB."),
    "container.too_many_elements": _l("Its part %(part)s holds more than %(max)s XML elements."),
    "container.too_much_memory": _l("Reading the file needed more than %(mb)s MB of memory."),
    "container.too_slow": _l(
        "Reading the file took more than %(seconds)s seconds; split it into smaller files."
    ),
}
