"""``/issues``: upload a document (.md / .docx) → structure; read it; preview the email."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any, cast

from flask import Blueprint, Response, request
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select
from werkzeug.datastructures import FileStorage

from service.errors import Message
from service.issues import import_jobs, previews, store
from service.issues.importer import DocumentImportError
from service.issues.layout import get_layout
from service.issues.render import Mode
from service.model import Issue, IssueImport
from service.web.api.auth import api_user_id
from service.web.api.common import Done, PageQuery, Strict, fetch
from service.web.api.common import Page as PageOf
from service.web.api.errors import ApiError
from service.web.api.pagination import page_by_id
from service.web.api.registry import operation
from service.web.context import db_session, settings
from service.web.issue_imports import queue_heavy_import

TAG = "issues"
# The same sandbox as the admin's preview iframes: email HTML shown without scripts.
PREVIEW_CSP = (
    "default-src 'none'; img-src https: http: data:; style-src 'unsafe-inline'; "
    "script-src 'none'; form-action 'none'; frame-ancestors 'self'"
)


class ArticleSummary(BaseModel):
    """An article's title and source line."""

    title: str
    source: str | None


class SectionSummary(BaseModel):
    """A section and its articles."""

    title: str
    articles: list[ArticleSummary]


class IssueOut(BaseModel):
    """An issue as the import reports it (DESIGN §7 ``issue import --json``)."""

    id: int
    slug: str
    title: str
    number: str
    sections: list[SectionSummary]
    published: bool
    created_at: datetime


class IssueDetail(IssueOut):
    """The issue with its whole structure (bodies, anchors, masthead, contact)."""

    structure: dict[str, Any]


class IssueImportOut(BaseModel):
    """A heavy upload the worker imports: poll ``GET /issues/imports/{id}`` until its
    status is ``done`` (then ``issue_id`` is the new issue), ``failed`` (``error`` says
    why) or ``duplicate`` (``duplicate_of`` is the issue imported from the same file)."""

    id: int
    filename: str
    status: str
    issue_id: int | None
    duplicate_of: int | None
    error: str | None
    created_at: datetime
    finished_at: datetime | None


def import_out(job: IssueImport) -> IssueImportOut:
    """The API view of a heavy upload's import."""
    return IssueImportOut(
        id=job.id,
        filename=job.filename,
        status=job.status,
        issue_id=job.issue_id,
        duplicate_of=job.duplicate_of,
        error=str(Message.load(job.error)) if job.error else None,
        created_at=job.created_at,
        finished_at=job.finished_at,
    )


class UploadForm(Strict):
    """No fields besides the ``file`` part."""


class UploadQuery(BaseModel):
    """``?allow_duplicate=1`` imports a document that was imported before once more."""

    model_config = ConfigDict(extra="ignore")

    allow_duplicate: bool = Field(
        default=False,
        description="Import even if an issue was already imported from the same file "
        "(otherwise 409 duplicate_issue, whose details name it as duplicate_of).",
    )


class PreviewMode(StrEnum):
    """``auto`` picks ``full`` unless the HTML would be clipped by Gmail."""

    AUTO = "auto"
    FULL = "full"
    EXCERPT = "excerpt"


class PreviewFormat(StrEnum):
    """``html``: the email's HTML part alone; ``json``: HTML, text, headers, sizes."""

    HTML = "html"
    JSON = "json"


class PreviewQuery(BaseModel):
    """How to preview."""

    mode: PreviewMode = PreviewMode.AUTO
    format: PreviewFormat = PreviewFormat.HTML


class HeaderOut(BaseModel):
    """One header of the sample message."""

    name: str
    value: str


class PreviewOut(BaseModel):
    """A sample message of the issue (sample name, inert links)."""

    mode: str
    mode_used: str
    auto_picks: str
    html: str
    text: str
    headers: list[HeaderOut]
    sizes: dict[str, int]
    limit: int
    warnings: list[str]


def issue_out(issue: Issue, detail: bool = False) -> IssueOut:
    """The API view of an issue."""
    summary = store.issue_summary(issue)
    fields = {
        **summary,
        "published": issue.published_at is not None,
        "created_at": issue.created_at,
    }
    if detail:
        return IssueDetail(**fields, structure=store.load_doc(issue).to_dict())
    return IssueOut(**fields)


def _get(issue_id: int) -> Issue:
    return fetch(Issue, issue_id, "issue")


def register(bp: Blueprint) -> None:
    """Add the issue operations to ``bp``."""

    @operation(
        bp,
        "GET",
        "/issues",
        summary="List issues",
        tag=TAG,
        query=PageQuery,
        response=PageOf[IssueOut],
    )
    def issues_index(query: PageQuery) -> Any:
        """Newest first."""
        rows, cursor = page_by_id(
            db_session(), select(Issue), Issue.id, "issues", query.cursor, query.limit
        )
        return PageOf[IssueOut](items=[issue_out(r) for r in rows], next_cursor=cursor)

    @operation(
        bp,
        "POST",
        "/issues",
        summary="Import an issue document",
        tag=TAG,
        role="editor",
        query=UploadQuery,
        multipart=UploadForm,
        files=("file",),
        response=IssueDetail,
        status=201,
    )
    def issues_create(query: UploadQuery, form: UploadForm, files: dict[str, FileStorage]) -> Any:
        """Upload a .md or .docx file (``file``); the answer is its structure.

        The same file imported before is a 409 ``duplicate_issue`` (``details.duplicate_of``
        is the existing issue's id) unless ``allow_duplicate`` is set. A Word document with
        a large body is imported by the worker: the answer is then a 202 with the import
        (``IssueImportOut``) to poll at ``GET /issues/imports/{id}``.
        """
        if (request.content_length or 0) > store.MAX_DOCUMENT_BYTES:
            raise ApiError(413, "too_large", "the document is larger than 20 MB")
        upload = files["file"]
        data = upload.read(store.MAX_DOCUMENT_BYTES + 1)
        filename = upload.filename or ""
        if import_jobs.is_heavy(filename, data):
            job = queue_heavy_import(
                filename, data, api_user_id(), allow_duplicate=query.allow_duplicate
            )
            return Response(
                import_out(job).model_dump_json(), status=202, mimetype="application/json"
            )
        session = db_session()
        try:
            issue = store.create_issue_from_document(
                session,
                filename,
                data,
                api_user_id(),
                allow_duplicate=query.allow_duplicate,
            )
        except store.DuplicateIssue as exc:
            session.rollback()
            raise ApiError(
                409, "duplicate_issue", str(exc), {"duplicate_of": exc.duplicate_of}
            ) from exc
        except DocumentImportError as exc:
            session.rollback()
            raise ApiError(422, "unreadable_document", str(exc)) from exc
        session.commit()
        return issue_out(issue, detail=True)

    @operation(
        bp,
        "GET",
        "/issues/imports/<job_id>",
        summary="Get the import of a heavy upload",
        tag=TAG,
        role="editor",
        response=IssueImportOut,
    )
    def issues_import_show(job_id: int) -> Any:
        """A Word document the worker imports (see ``POST /issues``): queued, running,
        done (``issue_id``), failed (``error``) or duplicate (``duplicate_of``)."""
        return import_out(fetch(IssueImport, job_id, "issue import"))

    @operation(
        bp,
        "GET",
        "/issues/<issue_id>",
        summary="Get an issue's structure",
        tag=TAG,
        response=IssueDetail,
    )
    def issues_show(issue_id: int) -> Any:
        """Sections, articles (title, body, source, anchor), masthead and contact."""
        return issue_out(_get(issue_id), detail=True)

    @operation(
        bp,
        "DELETE",
        "/issues/<issue_id>",
        summary="Delete an issue",
        tag=TAG,
        role="editor",
        response=Done,
    )
    def issues_delete(issue_id: int) -> Any:
        """Delete an issue no campaign was made from (409 ``issue_in_use`` otherwise,
        ``details.campaigns`` lists their ids)."""
        session = db_session()
        issue = _get(issue_id)
        try:
            store.delete_issue(session, issue, api_user_id(), request.remote_addr)
        except store.IssueInUse as exc:
            session.rollback()
            raise ApiError(
                409, "issue_in_use", str(exc), {"campaigns": exc.params["campaign_ids"]}
            ) from exc
        session.commit()
        return Done(detail={"deleted": issue_id})

    @operation(
        bp,
        "GET",
        "/issues/<issue_id>/preview",
        summary="Preview an issue's email",
        tag=TAG,
        role="editor",
        query=PreviewQuery,
        response=PreviewOut,
        produces="text/html,application/json",
    )
    def issues_preview(issue_id: int, query: PreviewQuery) -> Any:
        """The email as a subscriber would see it (sample name, inert links)."""
        issue = _get(issue_id)
        if not any(True for _ in store.load_doc(issue).articles()):
            raise ApiError(409, "no_articles", "the issue has no articles to preview")
        session = db_session()
        result = previews.preview(
            issue, get_layout(session, settings()), settings(), cast(Mode, str(query.mode))
        )
        if query.format == PreviewFormat.JSON:
            return PreviewOut(
                mode=result.mode,
                mode_used=result.mode_used,
                auto_picks=result.auto_picks,
                html=result.html,
                text=result.text,
                headers=[HeaderOut(name=n, value=v) for n, v in result.headers],
                sizes=result.sizes,
                limit=result.limit,
                warnings=result.warnings,
            )
        response = Response(result.html, mimetype="text/html")
        response.headers["Content-Security-Policy"] = PREVIEW_CSP
        response.headers["Cache-Control"] = "no-store"
        return response
