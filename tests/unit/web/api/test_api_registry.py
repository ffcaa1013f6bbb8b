"""The registry's input checks and the spec generator, without a database."""

from __future__ import annotations

import pytest
from flask import Blueprint, Flask
from pydantic import BaseModel

from service.web.api.errors import ApiError, handle_api_error
from service.web.api.openapi import build_spec
from service.web.api.registry import Operation, _check_text, _path_ids, _validated


class Sample(BaseModel):
    """A model for the tests."""

    n: int
    name: str | None = None


def test_nul_characters_and_lone_surrogates_are_refused_anywhere_in_the_input() -> None:
    for value in ("a\x00b", {"k": ["x", "\ud800"]}, {"\x00": 1}):
        with pytest.raises(ApiError) as caught:
            _check_text(value, "body")
        assert caught.value.code == "bad_characters"
    _check_text({"k": ["正常", 1, None]}, "body")


def test_validation_errors_list_the_fields() -> None:
    with pytest.raises(ApiError) as caught:
        _validated(Sample, {"n": "x"}, "body")
    assert caught.value.status == 422
    assert caught.value.details[0]["loc"] == ["n"]
    assert _validated(Sample, {"n": "3"}, "query string") == Sample(n=3)


def test_path_ids_must_be_positive_32_bit_integers() -> None:
    assert _path_ids({"list_id": "7"}) == {"list_id": 7}
    for text in ("0", "-1", "abc", "2147483648", "١"):
        with pytest.raises(ApiError) as caught:
            _path_ids({"list_id": text})
        assert caught.value.status == 404


def test_the_spec_has_path_query_and_body_from_the_models() -> None:
    op = Operation(
        method="POST",
        rule="/things/<thing_id>",
        endpoint="things_update",
        summary="Update a thing",
        description="",
        tag="things",
        role="editor",
        query=Sample,
        body=Sample,
        response=Sample,
    )
    document = build_spec([op])
    entry = document["paths"]["/api/v1/things/{thing_id}"]["post"]
    names = [(p["name"], p["in"]) for p in entry["parameters"]]
    assert names == [("thing_id", "path"), ("n", "query"), ("name", "query")]
    name_param = entry["parameters"][2]
    assert name_param["schema"] == {"type": "string", "title": "Name"}  # no JSON null
    assert entry["x-scope"] == "write" and entry["x-minimum-role"] == "editor"
    assert "Sample" in document["components"]["schemas"]


def test_a_401_says_how_to_authenticate() -> None:
    app = Flask(__name__)
    app.register_blueprint(Blueprint("x", __name__))
    with app.app_context():
        resp = handle_api_error(ApiError(401, "unauthorized", "no token"))
    assert resp.status_code == 401 and resp.headers["WWW-Authenticate"] == "Bearer"
    assert resp.get_json() == {
        "error": {"code": "unauthorized", "message": "no token", "details": None}
    }


def test_an_unexpected_exception_becomes_a_json_500_not_an_html_page() -> None:
    from service.web.api.errors import handle_unexpected

    app = Flask(__name__)
    with app.app_context():
        resp = handle_unexpected(RuntimeError("boom"))
    assert resp.status_code == 500
    assert resp.get_json()["error"]["code"] == "internal_error"
    assert "boom" not in resp.get_data(as_text=True)  # no internals leak to the client
