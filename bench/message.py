"""Benchmark: per-recipient message build + DKIM sign, stock path vs Tidings' path.

Run with ``.venv/bin/python bench/message.py [--runs N]``.  Builds a ~60 KB Chinese
newsletter (HTML + plain text) and measures, per message, the median time of:

* stock: `EmailMessage` + `NewsletterPolicy` (`MessageBuilder.build_reference`) and
  dkimpy's `dkim.sign` (`DkimSigner.sign_reference`);
* ours: `MessageBuilder.build` and `DkimSigner.sign`.

Both signatures are checked with dkimpy before timing, so the numbers compare equal work.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from datetime import datetime
from importlib.metadata import version
from pathlib import Path
from zoneinfo import ZoneInfo

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import dkim  # noqa: E402

from service.mail.dkim_sign import DkimSigner, generate_key  # noqa: E402
from service.mail.message import ListId, MessageBuilder, MessageParts  # noqa: E402
from service.mail.relays import smtp_content  # noqa: E402

# Roughly the size of the first customer's quarterly issue (STANDARDS §6.6: stay well
# below Gmail's ~102 KB clipping limit).
TARGET_HTML_BYTES = 45_000
TARGET_TEXT_BYTES = 15_000
DEFAULT_RUNS = 200
STOCK_RUNS_DIVISOR = 4  # the stock path is slow; fewer runs give the same median
SECRET = b"bench-secret"

PARAGRAPH = (
    "中国国际贸易促进委员会第四季度会员通讯：本期聚焦跨境电商新规、RCEP 原产地规则实务、"
    "以及 2026 年广交会参展指南。欢迎会员单位积极参与线上研讨会，并提出宝贵意见。"
)


def make_bodies() -> tuple[str, str]:
    """Return a ~45 KB CJK HTML body and a ~15 KB text body (UTF-8 sizes)."""
    html_parts = ['<!doctype html><html lang="zh-CN"><body><table role="presentation">']
    i = 0
    while len("".join(html_parts).encode()) < TARGET_HTML_BYTES:
        html_parts.append(
            f'<tr><td style="font-size:16px;line-height:1.7"><h2>第 {i} 篇</h2>'
            f'<p>{PARAGRAPH}</p><a href="https://n.example.org/c/AbCdEf{i:04d}">阅读全文</a>'
            "</td></tr>\n"
        )
        i += 1
    html_parts.append("</table></body></html>\n")
    text_parts: list[str] = []
    while len("\n".join(text_parts).encode()) < TARGET_TEXT_BYTES:
        text_parts.append(f"{PARAGRAPH}\nhttps://n.example.org/c/AbCdEf{len(text_parts):04d}")
    return "".join(html_parts), "\n".join(text_parts) + "\n"


def median_us(func: Callable[[], object], runs: int) -> float:
    """Return the median wall time of `func` in microseconds over `runs` calls."""
    samples = []
    for _ in range(runs):
        start = time.perf_counter_ns()
        func()
        samples.append(time.perf_counter_ns() - start)
    return statistics.median(samples) / 1000


def main() -> None:
    """Run the benchmark and print µs/message for build, sign and total."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=DEFAULT_RUNS)
    args = parser.parse_args()

    html, text = make_bodies()
    parts = MessageParts(
        from_name="中国贸易协会",
        from_addr="newsletter@news.example.org",
        subject="【会员通讯】2026 年第四季度：跨境电商新规与广交会参展指南",
        list_id=ListId("quarterly", "list-id.news.example.org", "中国贸易协会季刊"),
        list_unsubscribe_mailto="unsubscribe@news.example.org",
        feedback_id="q2026-4:newsletter:cta:tidings",
        message_id_domain="news.example.org",
    )
    builder = MessageBuilder(parts)
    pem, txt = generate_key()
    signer = DkimSigner("news.example.org", "t2026", pem)
    date = datetime(2026, 11, 26, 11, 0, tzinfo=ZoneInfo("Asia/Shanghai"))
    recipient = (
        "member@example.com",
        "张三",
        html,
        text,
        "https://n.example.org/u/Q1xq9TzG3l0bX2aV8r7pLw",
        builder.message_id_for(3456, 12, SECRET),
        date,
    )

    ours = builder.build(*recipient)
    stock = builder.build_reference(*recipient)

    def dns(name: bytes, timeout: int = 5) -> bytes:
        return txt.encode()

    assert dkim.verify(signer.sign(ours), dnsfunc=dns), "our signature does not verify"
    assert dkim.verify(signer.sign_reference(stock), dnsfunc=dns), "dkimpy signature fails"

    runs = args.runs
    stock_runs = max(runs // STOCK_RUNS_DIVISOR, 10)
    results = {
        "stock": (
            median_us(lambda: builder.build_reference(*recipient), stock_runs),
            median_us(lambda: signer.sign_reference(stock), stock_runs),
        ),
        "ours": (
            median_us(lambda: builder.build(*recipient), runs),
            median_us(lambda: signer.sign(ours), runs),
        ),
    }
    total_ours = median_us(lambda: signer.sign(builder.build(*recipient)), runs)
    total_stock = median_us(
        lambda: signer.sign_reference(builder.build_reference(*recipient)), stock_runs
    )

    print(
        f"Python {sys.version.split()[0]}, dkimpy {version('dkimpy')}, cryptography "
        f"{version('cryptography')}"
    )
    print(
        f"message: html {len(html.encode()):,} B + text {len(text.encode()):,} B UTF-8 "
        f"-> {len(ours):,} B on the wire (ours), {len(stock):,} B (stock)"
    )
    print(f"{'path':<6} {'build µs':>10} {'sign µs':>10} {'total µs':>10}")
    for name, total in (("stock", total_stock), ("ours", total_ours)):
        build_us, sign_us = results[name]
        print(f"{name:<6} {build_us:>10.1f} {sign_us:>10.1f} {total:>10.1f}")
    plain = bytes(ours)  # no MessageBytes guarantee: full line-break and whitespace checks
    checked_us = median_us(lambda: signer.sign(plain), runs)
    print(f"ours, sign of plain bytes (checked path): {checked_us:.1f} µs")
    # What the relay client does to the signed bytes after DATA: dot-stuffing.
    wire = signer.sign(ours)
    stuffed_us = median_us(lambda: smtp_content(wire), runs)
    replaced_us = median_us(lambda: wire.replace(b"\r\n.", b"\r\n..") + b".\r\n", runs)
    print(
        f"dot-stuffing of the signed message: smtp_content {stuffed_us:.1f} µs, "
        f"bytes.replace over all of it {replaced_us:.1f} µs"
    )
    print(
        f"speed-up: build {results['stock'][0] / results['ours'][0]:.1f}x, "
        f"sign {results['stock'][1] / results['ours'][1]:.1f}x, "
        f"total {total_stock / total_ours:.1f}x"
    )


if __name__ == "__main__":
    main()
