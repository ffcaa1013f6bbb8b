"""Structured logs carry the ids that tie a delivery's story together."""

from __future__ import annotations

import json
import logging

from service.logging_setup import JsonFormatter


def test_json_lines_keep_campaign_and_delivery_ids() -> None:
    record = logging.LogRecord(
        "tidings.send", logging.WARNING, __file__, 1, "retrying %s", ("451 try later",), None
    )
    record.campaign_id = 7
    record.delivery_id = 4242
    line = json.loads(JsonFormatter().format(record))
    assert line["message"] == "retrying 451 try later"
    assert line["level"] == "warning" and line["logger"] == "tidings.send"
    assert (line["campaign_id"], line["delivery_id"]) == (7, 4242)
    assert line["time"].endswith("+00:00")


def test_chinese_text_stays_readable_in_json() -> None:
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "已发送 %d 封", (3,), None)
    assert "已发送 3 封" in JsonFormatter().format(record)
