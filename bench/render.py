"""Benchmark: import + render the demo issue once, then fill it per recipient.

Run as ``.venv/bin/python bench/render.py [--runs N] [--fills N]``. Prints, per mode, the
median (and best) time of ``import_markdown`` and of the whole ``render_issue`` pipeline
(Markdown, Jinja, MJML, premailer, plain text, compile), then the median per-recipient
``fill`` time. Targets: render_issue < 100 ms (import + render is printed too), fill < 50 µs.
The machine is shared: the best time shows the figure without interference.
"""

from __future__ import annotations

import argparse
import logging
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from service.issues.importer import import_markdown  # noqa: E402
from service.issues.render import Mode, RenderedIssue, render_issue  # noqa: E402
from service.issues.render_parts import Layout  # noqa: E402

DEMO = ROOT / "demo" / "dldta-2026-q1.md"
ARCHIVE_URL = "https://news.example.org/archive/dldta-2026-q1"
RENDER_RUNS = 21
FILLS = 10_000
# Fills are timed in batches: one perf_counter pair per fill would measure the timer.
FILL_BATCH = 100
RENDER_TARGET_MS = 100.0
FILL_TARGET_US = 50.0

LAYOUT = Layout(
    journal_name="大连数字贸易",
    org_name="大连市数字贸易协会",
    address="大连市沙河口区数码广场 5 号 大连软件园 11 号楼 1106 室",
    phone="0411-84766033",
    email="service@dldta.org.cn",
    website="http://www.dldta.cn",
)


def bench_render(
    source: str, mode: Mode, runs: int
) -> tuple[list[float], list[float], RenderedIssue]:
    """Milliseconds of each run's (import_markdown, render_issue in ``mode``)."""
    import_times = []
    render_times = []
    rendered = None
    for _ in range(runs):
        start = time.perf_counter()
        doc = import_markdown(source)
        middle = time.perf_counter()
        rendered = render_issue(doc, LAYOUT, mode=mode, archive_url=ARCHIVE_URL)
        render_times.append((time.perf_counter() - middle) * 1e3)
        import_times.append((middle - start) * 1e3)
    assert rendered is not None
    return import_times, render_times, rendered


def bench_fill(rendered: RenderedIssue, fills: int) -> float:
    """Median microseconds of one CompiledEmail.fill call (distinct values per recipient)."""
    compiled = rendered.compiled
    recipients = []
    for i in range(FILL_BATCH):
        values = {
            "name": f"会员{i}",
            "unsubscribe_url": f"https://news.example.org/u/tok{i:06d}",
            "preferences_url": f"https://news.example.org/preferences/tok{i:06d}",
            "open_pixel_url": f"https://news.example.org/o/tok{i:06d}",
        }
        for slot in compiled.link_slots:
            values[slot] = f"https://news.example.org/c/{slot[5:]}-{i:06d}"
        recipients.append(values)
    per_fill = []
    for _ in range(max(1, fills // FILL_BATCH)):
        start = time.perf_counter()
        for values in recipients:
            compiled.fill(values)
        per_fill.append((time.perf_counter() - start) / FILL_BATCH)
    return statistics.median(per_fill) * 1e6


def main() -> int:
    """Run the benchmark and print the figures; exit status 1 when a target is missed."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=RENDER_RUNS)
    parser.add_argument("--fills", type=int, default=FILLS)
    args = parser.parse_args()
    # render_issue logs its warnings; the benchmark prints them once at the end instead.
    logging.getLogger("service.issues.render").setLevel(logging.ERROR)
    source = DEMO.read_text(encoding="utf-8")

    start = time.perf_counter()
    import_markdown(source)
    render_issue(import_markdown(source), LAYOUT, archive_url=ARCHIVE_URL)
    cold_ms = (time.perf_counter() - start) * 1e3
    print(f"first import + render (cold: module imports, template compile): {cold_ms:.1f} ms")

    ok = True
    auto: RenderedIssue | None = None
    modes: tuple[Mode, ...] = ("full", "excerpt", "auto")
    for mode in modes:
        import_times, render_times, rendered = bench_render(source, mode, args.runs)
        import_ms = statistics.median(import_times)
        render_ms = statistics.median(render_times)
        print(
            f"{mode:<7} → {rendered.mode_used:<7}: render {render_ms:5.1f} ms/issue "
            f"(best {min(render_times):5.1f}), import {import_ms:5.1f} ms "
            f"(best {min(import_times):5.1f}), together {import_ms + render_ms:5.1f} ms; "
            f"html {rendered.html_size_encoded} bytes encoded, {len(rendered.links)} links"
        )
        ok &= render_ms < RENDER_TARGET_MS
        if mode == "auto":
            auto = rendered
    assert auto is not None
    for tried, tried_size in auto.sizes.items():
        print(f"  auto tried {tried}: {tried_size} bytes encoded (limit 95000)")
    for warning in auto.warnings:
        print(f"  warning: {warning}")

    us = bench_fill(auto, args.fills)
    print(f"fill ({auto.mode_used}): {us:.1f} µs/recipient (median over {args.fills} fills)")
    ok &= us < FILL_TARGET_US
    print("targets met" if ok else "TARGET MISSED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
