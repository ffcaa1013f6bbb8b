"""The domain's messages in the reader's language: one catalogue from code to sentence.

Domain code raises errors and stores notes as a code with parameters
(``service.errors``); this is the one place that turns them into words. Every sentence is
a literal ``_l()`` call so the string extractor finds it, and gets its Chinese in the
catalogue like any other. A code missing here shows its English text, so a new error is
never lost, only untranslated.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask import flash
from flask_babel import lazy_gettext as _l
from flask_babel.speaklater import LazyString

from service.errors import Message, message_of
from service.web.labels import status_label

# Parameters that hold a stored status value; shown by their label, not the raw value.
STATUS_PARAMS = frozenset({"status", "new_status"})

# Sentences that take another message as a parameter (``%(error)s``) end without a full
# stop: the inner sentence brings its own.
MESSAGES: dict[str, LazyString] = {
    # ---- campaigns: why a campaign is in its state (stored, shown on its page)
    "campaign.paused_by_staff": _l("Paused by a staff member."),
    "campaign.paused_through_api": _l("Paused through the API."),
    "campaign.paused_from_cli": _l("Paused from the command line."),
    "campaign.error_brake": _l(
        "Paused automatically after %(count)s transport failures in a row. Last error: %(error)s"
    ),
    "campaign.relay_refused": _l(
        "Paused automatically: the relay refused the connection: %(error)s"
    ),
    "campaign.error_brake_permanent": _l(
        "Paused automatically after %(count)s failures in a row: the relay refuses us for "
        "good (%(error)s). Fix the relay settings (login, sender address, SPF/DKIM), then "
        "resume."
    ),
    "campaign.resumed_after_probe": _l(
        "Resumed automatically: the relay answered probe %(attempt)s: %(reply)s"
    ),
    "campaign.probes_gave_up": _l(
        "Paused: the relay still failed after %(attempts)s probes (last: %(reply)s). Check "
        "the relay, then resume."
    ),
    "campaign.probe_refused": _l(
        "Paused: the relay refuses us for good (%(reply)s). Fix the relay settings (login, "
        "sender address, SPF/DKIM) or ask the relay's operator, then resume."
    ),
    "campaign.attention_unknown": _l(
        "%(count)s recipients may or may not have received it: the worker sending to them "
        "stopped. Check the relay's log for them, or choose “Resend unknown”: it sends the "
        "same message with the same Message-ID, which most mailbox providers drop when they "
        "already have it."
    ),
    "campaign.attention_unknown_closed": _l(
        "%(count)s recipients may or may not have received it: the worker sending to them "
        "stopped. The campaign is %(status)s, so they cannot be sent again; check the "
        "relay's log for them."
    ),
    "campaign.start_failed": _l("Could not start: %(error)s"),
    "campaign.resending_unknown": _l("Sending again to the recipients whose outcome was unknown."),
    # ---- campaigns: input and state changes
    "campaign.missing": _l("There is no campaign %(campaign_id)s."),
    "campaign.bad_transition": _l(
        "Campaign %(campaign_id)s is %(status)s and cannot become %(new_status)s."
    ),
    "campaign.cannot_start": _l("Campaign %(campaign_id)s is %(status)s and cannot start."),
    "campaign.cannot_resend": _l(
        "Campaign %(campaign_id)s is %(status)s, so its unknown recipients cannot be sent again."
    ),
    "campaign.issue_or_body": _l("Give either an issue or an HTML body."),
    "campaign.no_issue": _l("There is no issue %(issue_id)s."),
    "campaign.bad_content_mode": _l("The content mode must be one of %(modes)s."),
    "campaign.no_subject": _l("A subject is needed."),
    "campaign.bad_subject": _l("The subject must be one line of at most %(max)s characters."),
    "campaign.multiline_header": _l("The From name and the preheader must be one line each."),
    "campaign.no_list": _l("Choose at least one list."),
    "campaign.unknown_list": _l("There is no list “%(list)s”."),
    "campaign.bad_from": _l("From address: %(error)s"),
    "campaign.bad_reply_to": _l("Reply-To address: %(error)s"),
    "campaign.bad_time": _l("“%(text)s” is not a time like 2026-12-01T09:00."),
    "campaign.time_without_zone": _l("The time needs a time zone."),
    "campaign.time_in_past": _l("The scheduled time is in the past; use “Send now” instead."),
    "campaign.not_editable": _l(
        "Campaign %(campaign_id)s is %(status)s: only a draft, or a scheduled campaign that "
        "has not started, can be changed."
    ),
    "campaign.test_no_subscriber": _l(
        "There is no subscriber %(email)s to render the test as; give the address of a "
        "subscriber, or leave it empty."
    ),
    "from.local_only": _l(
        "The sender %(address)s has no public domain, so the relay would pass it to receiving "
        "servers that refuse it. Set TIDINGS_FROM (or this campaign's From) to an address at "
        "your organisation's domain, e.g. news@example.org."
    ),
    # ---- campaign content
    "content.empty": _l("The campaign has neither an issue nor an HTML body."),
    "content.not_compiled": _l(
        "Campaign %(campaign_id)s has not been prepared for sending; start it first."
    ),
    "content.unreadable_issue": _l("Issue %(issue_id)s cannot be read: %(error)s"),
    "content.no_content": _l("Issue %(issue_id)s has no content."),
    "content.issue_gone": _l("Issue %(issue_id)s no longer exists."),
    "content.slot_marker": _l("The body contains the slot marker; try again."),
    # ---- sending settings (per field)
    "settings.not_a_number": _l("Enter a number."),
    "settings.not_positive": _l("Enter a positive number."),
    "settings.bad_domain_limit": _l("%(domain)s: give a limit and a window in seconds."),
    "settings.domain_limit_not_positive": _l(
        "%(domain)s: the limit and the window must be positive."
    ),
    "settings.unknown_provider": _l("%(provider)s: not a provider code (one of %(codes)s)."),
    "settings.bad_provider_limit": _l(
        "%(provider)s: give a limit (0 for none) and a window, first and longest "
        "back-off in seconds, all positive, the longest at least the first."
    ),
    "settings.bad_relay": _l("%(url)s: %(error)s"),
    "settings.dead_too_soon": _l("Allow at least three heartbeats before a worker counts as dead."),
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
    # ---- sender and site settings
    "site.control_chars": _l("Control characters are not allowed."),
    "site.too_long": _l("This is too long."),
    "site.bad_address": _l("An email address like news@example.org."),
    "logo.not_an_image": _l("The file is not a PNG or JPEG image."),
    "logo.too_large": _l("The logo is %(size)s KB; at most %(limit)s KB."),
    "logo.bad_dimensions": _l(
        "The logo is %(width)s × %(height)s pixels; each side must be 1 to %(limit)s."
    ),
    "dkim.bad_domain": _l("%(domain)s is not a domain name."),
    "dkim.bad_selector": _l("%(selector)s is not a DKIM selector (letters, digits, - and _)."),
    "site.bad_base_url": _l("A web address starting with https:// (or http://) and a host name."),
    # ---- the preflight before sending (service.campaigns.preflight)
    "preflight.blocked": _l("Sending is blocked by the preflight: %(checks)s"),
    "preflight.unacknowledged": _l(
        "The preflight warned (%(checks)s): tick “I have read the warnings” to send."
    ),
    "preflight.recipients": _l(
        "%(recipients)s recipients; %(suppressed)s suppressed addresses left out."
    ),
    "preflight.rendered": _l("Rendered for %(email)s."),
    "preflight.not_rendered": _l("The message could not be rendered: %(error)s"),
    "preflight.own_links_dead": _l("%(count)s links to this service do not work: %(links)s"),
    "preflight.own_links_not_checked": _l(
        "Not checked: the service did not answer at %(base_url)s (%(links)s)."
    ),
    "preflight.own_links_ok": _l("%(count)s links to this service work."),
    "preflight.external_links_failed": _l(
        "%(count)s of %(total)s links to other sites did not answer or answered with an "
        "error: %(links)s"
    ),
    "preflight.external_links_ok": _l("%(count)s links to other sites answer."),
    "preflight.archive_not_linked": _l("The message does not link to the web archive."),
    "preflight.archive_not_checked": _l("Not checked: the service did not answer for %(url)s."),
    "preflight.archive_not_public": _l("The archive page %(url)s answers %(status)s."),
    "preflight.archive_published_at_start": _l(
        "The archive page %(url)s is published when sending starts."
    ),
    "preflight.archive_public": _l("The archive page %(url)s is public."),
    # The resolver's own words (%(error)s, English) stay in the API's and the CLI's text.
    "preflight.dns_not_checked": _l("Not checked: no DNS server answered for public names."),
    "preflight.spf_missing": _l("%(domain)s has no SPF record."),
    "preflight.spf_many": _l(
        "%(domain)s has %(count)s SPF records; receivers treat that as an error."
    ),
    "preflight.spf_all": _l("The SPF record of %(domain)s lets any server send: %(record)s"),
    "preflight.spf_ok": _l("%(domain)s: %(record)s"),
    "preflight.dkim_no_key": _l(
        "No DKIM key is configured: the mail goes out unsigned. Generate one under Settings → "
        "DKIM (or set TIDINGS_DKIM_*)."
    ),
    "preflight.dkim_not_aligned": _l(
        "The DKIM domain %(dkim)s does not align with the From domain %(domain)s."
    ),
    "preflight.dkim_record_ok": _l("%(name)s publishes the configured key."),
    "preflight.dkim_record_other_key": _l(
        "The key published at %(name)s is not the configured key; publish: %(value)s"
    ),
    "preflight.dkim_record_missing": _l("%(name)s has no DKIM key record; publish: %(value)s"),
    "preflight.dmarc_missing": _l("%(domain)s has no DMARC record."),
    "preflight.dmarc_no_policy": _l("The DMARC record of %(domain)s has no p= policy: %(record)s"),
    "preflight.dmarc_ok": _l("%(domain)s: %(record)s"),
    "preflight.dkim_unsigned": _l("The message is not DKIM-signed."),
    "preflight.dkim_bad_signature": _l(
        "The DKIM signature does not verify against the published key."
    ),
    "preflight.dkim_signature_ok": _l("The DKIM signature verifies."),
    "preflight.list_unsubscribe_missing": _l("The message lacks %(headers)s."),
    "preflight.list_unsubscribe_unsigned": _l("No DKIM signature covers %(headers)s."),
    "preflight.list_unsubscribe_ok": _l(
        "List-Unsubscribe and List-Unsubscribe-Post are present and signed."
    ),
    "preflight.html_size_ok": _l(
        "The HTML is %(size)s bytes, under Gmail's %(limit)s-byte clipping limit."
    ),
    "preflight.html_size_clipped": _l(
        "The HTML is %(size)s bytes, over Gmail's %(limit)s-byte clipping limit: Gmail "
        "hides the rest, the unsubscribe link with it."
    ),
    "preflight.aligned": _l(
        "The return path domain %(mail_from)s aligns with the From domain %(domain)s."
    ),
    "preflight.not_aligned": _l(
        "The return path domain %(mail_from)s is not the From domain %(domain)s: NetEase "
        "mailboxes show the message as sent on someone's behalf."
    ),
    # ---- staff accounts
    "account.bad_email": _l("“%(email)s” is not an email address."),
    "account.bad_role": _l("The role must be one of %(roles)s."),
    "account.short_password": _l("The password must have at least %(min)s characters."),
    "account.email_taken": _l("A user %(email)s already exists."),
    "account.no_user": _l("There is no such user."),
    "account.last_admin": _l("The last active admin cannot be demoted or deactivated."),
    "account.wrong_password": _l("The current password is not right."),
    "account.bad_scopes": _l("The scopes must be one of %(scopes)s."),
    "account.no_token": _l("There is no such token."),
    "account.expiry_passed": _l("The expiry date must lie in the future."),
    "account.bad_expiry": _l("“%(value)s” is not a date like 2027-01-31."),
    "two_factor.already_on": _l("Two-factor login is already on."),
    "two_factor.not_started": _l("Make a key for your app first."),
    "two_factor.wrong_code": _l(
        "The code is not right. Type the code the app shows now (and check the phone's clock)."
    ),
    "two_factor.required_for_admins": _l(
        "Admins must use two-factor login; an admin can stop requiring it first."
    ),
    "two_factor.set_up_yours_first": _l(
        "Set up two-factor login for your own account before requiring it of admins."
    ),
}


def describe(message: Message | BaseException) -> str:
    """The message (or any exception) as a sentence in the current request's language.

    Unknown codes, and exceptions that are not domain errors, give their English text;
    so does a translation that does not fit the stored parameters (an old row).
    """
    if isinstance(message, BaseException):
        message = message_of(message)
    template = MESSAGES.get(message.code)
    if template is None:
        return message.text
    try:
        return str(template) % _shown(message.params)
    except (KeyError, ValueError, TypeError):
        return message.text


def _shown(params: Mapping[str, Any]) -> dict[str, Any]:
    return {
        key: describe(value)
        if isinstance(value, Message)
        else status_label(value)
        if key in STATUS_PARAMS
        else value
        for key, value in params.items()
    }


def flash_error(error: Message | BaseException) -> None:
    """Flash ``error`` in the staff member's language (how every admin view reports one)."""
    flash(describe(error), "error")
