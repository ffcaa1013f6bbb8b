"""One fuzz harness per input a stranger sends us: bytes in, the domain's own error or nothing.

Each harness takes the raw bytes of one input and calls the domain at the level those
bytes reach in the service (the file importers, the bounce parser, a webhook's verify and
parse steps), then the steps that follow without a database (the row checks of an import,
the completeness check of an issue, the storable form of a webhook event). An exception
named in ``Target.accepted`` is the domain refusing the input, as it should; anything else
escapes and is a crash. ``run.py`` drives these under atheris; ``test_fuzz.py`` replays
the corpus and the saved crashes through them in-process, without atheris.
"""

from __future__ import annotations

import base64
import json
import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from service.errors import DomainError
from service.events import webhook_mailgun as mailgun
from service.events import webhook_postmark as postmark
from service.events import webhook_sendgrid as sendgrid
from service.events import webhook_ses as ses
from service.events import webhooks as hooks
from service.events.bounces import parse_report
from service.issues.importer import import_file as import_issue
from service.issues.importer import source_markdown
from service.issues.sentences import missing_sentences
from service.issues.structure import IssueDoc
from service.subscribers.import_columns import complete_mapping
from service.subscribers.import_rows import RowParser
from service.subscribers.import_terms import ImportReport
from service.subscribers.tabular import count_rows, iter_rows, sniff

HERE = Path(__file__).resolve().parent
CORPUS = HERE / "corpus"
CRASHES = HERE / "crashes"

# The configuration each webhook harness verifies against: real shapes, made-up secrets.
MAILGUN_KEY = "key-fuzz-0123456789abcdef"
POSTMARK_USER, POSTMARK_PASSWORD = "postmark", "fuzz-password"
SES_TOPIC = "arn:aws:sns:eu-west-1:123456789012:tidings-bounces"
# A fixed P-256 key (derived from a constant, so seeds can be signed with it).
SENDGRID_PRIVATE_KEY = ec.derive_private_key(0x7469_6469_6E67_73, ec.SECP256R1())
SENDGRID_PUBLIC_KEY = base64.b64encode(
    SENDGRID_PRIVATE_KEY.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
).decode()


@dataclass(frozen=True)
class Target:
    """A fuzz target: its harness, the errors that count as a refusal, its input bound."""

    harness: Callable[[bytes], None]
    accepted: tuple[type[BaseException], ...]
    max_len: int  # libFuzzer's -max_len: parsing logic, not decompression bombs (item 3)

    def run(self, data: bytes) -> None:
        """Feed ``data`` to the harness; a refusal by the domain is swallowed."""
        try:
            self.harness(data)
        except self.accepted:
            pass


# --------------------------------------------------------------------------- subscriber files

_scratch: dict[str, Path] = {}


def _as_file(data: bytes, suffix: str) -> Path:
    """``data`` in a scratch file (the importer reads a path: the upload as it waits)."""
    path = _scratch.get(suffix)
    if path is None:
        handle, name = tempfile.mkstemp(prefix="tidings-fuzz-", suffix=suffix)
        os.close(handle)
        path = _scratch[suffix] = Path(name)
    path.write_bytes(data)
    return path


def subscriber_file(data: bytes, suffix: str = ".csv") -> None:
    """What ``subscribers.importer.import_file`` does with a file before the database:
    sniff it, guess the mapping, count and check every row."""
    path = _as_file(data, suffix)
    info = sniff(path)
    mapping = complete_mapping(info.headers, None)
    report = ImportReport(encoding=info.encoding_label, delimiter=info.delimiter)
    report.total = count_rows(path, info)
    parser = RowParser(info.headers, mapping, report)
    for line, cells in iter_rows(path, info):
        parser.parse(line, cells)
    json.dumps(report.summary())  # the CLI's --json and the job's stored report


def subscriber_xlsx(data: bytes) -> None:
    """An uploaded workbook (the same path as CSV: the kind is told from the bytes)."""
    subscriber_file(data, ".xlsx")


# --------------------------------------------------------------------------- issue documents


def issue_document(data: bytes, filename: str = "issue.md") -> None:
    """An issue import as ``store.create_issue_from_document`` and the completeness page
    make it: the structured issue, stored as JSON and read back, and its missing sentences."""
    doc = import_issue(filename, data)
    stored = json.loads(json.dumps(doc.to_dict()))
    IssueDoc.from_dict(stored)
    missing_sentences(source_markdown(filename, data), doc)


def issue_docx(data: bytes) -> None:
    """A Word document, through mammoth and the HTML → Markdown converter."""
    issue_document(data, "issue.docx")


# --------------------------------------------------------------------------- bounces by mail


def bounce_mail(data: bytes) -> None:
    """One inbound message (DSN, ARF complaint, auto-reply or anything else): the parser
    must read every byte sequence into a report, never raise."""
    report = parse_report(data)
    json.dumps([r.address + r.status + r.diagnostic for r in report.recipients])


# --------------------------------------------------------------------------- webhooks


def _storable(events: list[hooks.WebhookEvent]) -> None:
    # What apply_events writes: every string made fit for the database, details as JSON.
    for event in map(hooks._storable, events):
        json.dumps(event.signal.detail)
        assert len(event.signal.provider_event_id) <= hooks.MAX_EVENT_ID


def _split_headers(data: bytes) -> tuple[str, bytes]:
    """The input's first line is the request's header value (HTTP headers are Latin-1),
    the rest its body."""
    head, _, body = data.partition(b"\n")
    return head.decode("latin-1"), body


class _NoCertificates(ses.CertCache):
    """No network in a fuzz run: every signing certificate is unavailable."""

    def __init__(self) -> None:
        super().__init__(self._refuse)

    @staticmethod
    def _refuse(url: str) -> bytes:
        raise OSError(f"no network in the fuzz harness ({url[:60]})")


_NO_CERTS = _NoCertificates()


def _refuse_confirm(url: str) -> bytes:
    raise OSError("no network in the fuzz harness")


def webhook_ses(data: bytes) -> None:
    """An SNS POST: verification (refused, no certificate can be fetched), then the SES
    notification it would carry once verified (its ``Message``, or the body itself)."""
    config = {"topic_arns": [SES_TOPIC]}
    try:
        ses.handle_ses(data, config, _NO_CERTS, _refuse_confirm)
    except hooks.Unverified:
        pass
    envelope = hooks.json_body(data)
    message = envelope.get("Message") if isinstance(envelope, dict) else None
    if isinstance(envelope, dict):
        try:
            ses.sns_string_to_sign(envelope)  # what a signature would be checked over
        except hooks.Unverified:
            pass
    for notification in (envelope, _loads(message) if isinstance(message, str) else None):
        if isinstance(notification, dict):
            _storable(ses.ses_events(notification))


def _loads(text: str) -> Any:
    try:
        return json.loads(text)
    except (ValueError, RecursionError):
        return None


def webhook_sendgrid(data: bytes) -> None:
    """A SendGrid POST: first line ``signature timestamp``, then the body."""
    head, body = _split_headers(data)
    signature, _, timestamp = head.partition(" ")
    headers = {
        "x-twilio-email-event-webhook-signature": signature,
        "x-twilio-email-event-webhook-timestamp": timestamp,
    }
    try:
        sendgrid.verify_sendgrid(body, headers, SENDGRID_PUBLIC_KEY)
    except hooks.Unverified:
        pass
    _storable(sendgrid.sendgrid_events(hooks.json_body(body)))


def webhook_mailgun(data: bytes) -> None:
    """A Mailgun POST: the signature object inside the body, then its event data."""
    payload = hooks.json_body(data)
    if not isinstance(payload, dict):
        raise hooks.Unverified(400, "body is not an object")
    try:
        mailgun.verify_mailgun(payload.get("signature"), MAILGUN_KEY, lambda token: False)
    except hooks.Unverified:
        pass
    _storable(mailgun.mailgun_events(payload))


def webhook_postmark(data: bytes) -> None:
    """A Postmark POST: first line the ``Authorization`` header, then the body."""
    authorization, body = _split_headers(data)
    try:
        postmark.verify_basic_auth(authorization, POSTMARK_USER, POSTMARK_PASSWORD)
    except hooks.Unverified:
        pass
    payload = hooks.json_body(body)
    if isinstance(payload, dict):
        _storable(postmark.postmark_events(payload))


def postmark_authorization(user: str = POSTMARK_USER, password: str = POSTMARK_PASSWORD) -> str:
    """The header a configured Postmark sends (for the seed corpus)."""
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


# --------------------------------------------------------------------------- the targets

_UNVERIFIED = (hooks.Unverified,)
TARGETS: dict[str, Target] = {
    "subscriber_csv": Target(subscriber_file, (DomainError,), 16 * 1024),
    "subscriber_xlsx": Target(subscriber_xlsx, (DomainError,), 64 * 1024),
    "issue_markdown": Target(issue_document, (DomainError,), 32 * 1024),
    "issue_docx": Target(issue_docx, (DomainError,), 64 * 1024),
    "bounce_dsn": Target(bounce_mail, (), 32 * 1024),
    "bounce_arf": Target(bounce_mail, (), 32 * 1024),
    "webhook_ses": Target(webhook_ses, _UNVERIFIED, 16 * 1024),
    "webhook_sendgrid": Target(webhook_sendgrid, _UNVERIFIED, 16 * 1024),
    "webhook_mailgun": Target(webhook_mailgun, _UNVERIFIED, 16 * 1024),
    "webhook_postmark": Target(webhook_postmark, _UNVERIFIED, 16 * 1024),
}
