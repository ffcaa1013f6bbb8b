"""The logo uploaded in the admin (issue 16, item 1): served by the service at a stable
address, and shown in the mail header with its width and height."""

from __future__ import annotations

import re

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy.orm import Session

from service.config import Settings
from service.issues.layout import get_layout
from service.issues.logo import MAX_LOGO_BYTES
from service.issues.render import render_issue
from service.issues.render_parts import LOGO_WIDTH_PX
from service.issues.structure import Article, IssueDoc, Section
from tests.conftest import csrf_token
from tests.unit.issues.test_logo import png


def _upload(client: FlaskClient, data: bytes, name: str = "logo.png") -> str:
    from io import BytesIO

    token = csrf_token(client, "/settings/sender")
    resp = client.post(
        "/settings/logo",
        data={"csrf_token": token, "logo": (BytesIO(data), name)},
        content_type="multipart/form-data",
        follow_redirects=True,
    )
    assert resp.status_code == 200
    return resp.get_data(as_text=True)


def test_an_uploaded_logo_is_served_and_sized_in_the_mail_header(
    logged_in: FlaskClient, app: Flask, session: Session, settings: Settings
) -> None:
    image = png(480, 120)
    page = _upload(logged_in, image)
    assert 'class="flash flash-info"' in page and "480 × 120" in page

    layout = get_layout(session, settings)
    assert layout.logo_size == (480, 120)
    assert layout.logo_url is not None
    assert re.fullmatch(rf"{settings.base_url}/logo\?v=[0-9a-f]{{12}}", layout.logo_url)
    served = app.test_client().get("/logo")  # mail clients fetch it without a login
    assert served.status_code == 200 and served.mimetype == "image/png"
    assert served.data == image

    doc = IssueDoc(
        journal="大连数字贸易",
        number="2026 年第 1 期",
        date="2026-03-31",
        intro="季刊",
        sections=[Section("资讯", [Article("标题", "正文。", None, "a1")])],
        contact=[],
    )
    html = render_issue(doc, layout, mode="full", archive_url=settings.base_url).compiled.html
    tag = re.search(r"<img[^>]+src=\"" + re.escape(layout.logo_url) + r"\"[^>]*>", str(html))
    assert tag is not None
    shown_height = round(120 * LOGO_WIDTH_PX / 480)
    assert f'width="{LOGO_WIDTH_PX}"' in tag.group(0)
    assert f'height="{shown_height}"' in tag.group(0)  # 480 × 120 shown 160 wide: 40 high


def test_a_file_that_is_no_png_or_jpeg_is_refused_and_nothing_is_served(
    logged_in: FlaskClient, app: Flask
) -> None:
    page = _upload(logged_in, b"GIF89a" + bytes(40), "logo.gif")
    assert 'class="flash flash-error"' in page
    assert app.test_client().get("/logo").status_code == 404


@pytest.mark.parametrize(
    "data", [png(10, 10) + bytes(MAX_LOGO_BYTES), b""], ids=["too-large", "empty"]
)
def test_a_logo_too_large_or_empty_is_refused_and_the_earlier_one_stays(
    logged_in: FlaskClient, app: Flask, data: bytes
) -> None:
    earlier = png(64, 16)
    _upload(logged_in, earlier)
    page = _upload(logged_in, data)
    assert 'class="flash flash-error"' in page
    assert app.test_client().get("/logo").data == earlier
