"""Masking secrets in URLs, and the Prometheus text format, as plain functions."""

from __future__ import annotations

from service.ops.metrics import _family
from service.ops.secrets import mask_url, restore_masked


def test_a_url_password_is_masked_and_everything_else_kept() -> None:
    assert mask_url("smtp://news:s3cr3t@relay.example.org:587?starttls=1") == (
        "smtp://news:***@relay.example.org:587?starttls=1"
    )


def test_urls_without_a_password_or_unparseable_ones_are_returned_as_they_are() -> None:
    assert mask_url("smtp://relay.example.org:25") == "smtp://relay.example.org:25"
    assert mask_url("smtp://[broken") == "smtp://[broken"


def test_a_masked_relay_sent_back_gets_its_stored_password_again() -> None:
    stored = ["smtp://u:old-secret@relay.example.org:587", "smtps://v:other@b.example.org:465"]
    submitted = [
        {"url": "smtp://u:***@relay.example.org:587", "weight": "2"},
        {"url": "smtps://v:new-secret@b.example.org:465", "weight": "1"},
    ]
    assert restore_masked(submitted, stored) == [
        {"url": "smtp://u:old-secret@relay.example.org:587", "weight": "2"},
        {"url": "smtps://v:new-secret@b.example.org:465", "weight": "1"},
    ]


def test_a_mask_for_an_unknown_relay_is_left_for_validation_to_refuse() -> None:
    submitted = [{"url": "smtp://u:***@elsewhere.example.org:587"}]
    assert restore_masked(submitted, ["smtp://u:x@relay.example.org:587"]) == submitted


def test_metric_families_have_help_type_and_escaped_labels() -> None:
    lines = _family("tidings_x", "gauge", "Help text.", [({"reason": 'a"b\\c'}, 2.0), ({}, 0.5)])
    assert lines == [
        "# HELP tidings_x Help text.",
        "# TYPE tidings_x gauge",
        'tidings_x{reason="a\\"b\\\\c"} 2',
        "tidings_x 0.5",
    ]
