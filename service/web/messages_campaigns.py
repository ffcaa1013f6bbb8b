"""The sentences of campaigns: why one is in its state, bad input and refused changes,
its content, the sending settings and the preflight before sending.

One part of the catalogue of ``service.web.messages`` (its rules hold here)."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_babel.speaklater import LazyString

CAMPAIGN_MESSAGES: dict[str, LazyString] = {
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
}
