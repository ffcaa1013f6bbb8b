"""Benchmark: the same campaign sent by a peer, django-newsletter 1.2.1, for comparison.

Run as ``.venv/bin/python bench/peer.py --recipients 2000`` (add ``--with-tidings`` to run
``bench/send.py`` for the same count right after, and print the two side by side). The
first run creates ``bench/.peer-venv`` (gitignored) with this same Python and installs
the pinned :data:`PEER_REQUIREMENTS` from the package registry; later runs reuse it.

What runs:

* the content: the demo issue exactly as Tidings sends it in excerpt mode (one message
  rendered by Tidings' own code, as ``bench/send.py``'s campaign); its HTML part (31 KB,
  the same bytes) becomes the one article of a django-newsletter message, and its
  subject the message's title;
* a minimal Django project (``bench/peer_project``: SQLite, ``DEBUG = False``, the stock
  SMTP e-mail backend, no configured delays), migrated fresh; one newsletter, N
  subscriptions, the message and its submission, queued as the admin's "submit" button
  does;
* the same local sink as ``bench/send.py`` (Postfix's ``smtp-sink`` when installed);
* ``manage.py submit_newsletter`` — django-newsletter's sending, the command its
  installation guide puts in cron — timed from start to exit (Django's start-up
  included; a second run with nothing left to send shows that fixed cost), with its CPU
  time from the kernel (``wait4``).

What django-newsletter does per message (``Submission.submit`` → ``send_message``), in
one process, one message after the other (it has no parallel sending: a second
``submit_newsletter`` skips a submission already marked ``sending``): renders the
subject, text and HTML templates (the text is the article's HTML through ``striptags``),
queries the message's attachments, builds an ``EmailMultiAlternatives`` (Python's ``email`` package;
quoted-printable bodies when a line is longer than 998 octets, as this content's are, so a
message is 83 KB on the wire against Tidings' 59 KB base64; ``--short-lines`` breaks the
content's lines at tags so Django sends 8bit, 46 KB), and calls ``message.send()``, which
**opens a new SMTP connection for each message** (connect, EHLO, MAIL, RCPT, DATA, QUIT).
No DKIM signature, no per-recipient links or tokens (its List-Unsubscribe URL is the same
for everyone), no record of each delivery: a failure is only logged (this script counts
those log lines), and the submission is marked sent at the end even if every message
failed.

Tidings, by comparison (``bench/send.py``): Celery pool processes (one per core), a
delivery row per recipient claimed and recorded in the database, per-recipient tokens for
every link, List-Unsubscribe one-click, a DKIM RSA-2048 signature on every message, and
SMTP PIPELINING over kept connections. So the ratio printed compares the two programs
doing their own normal sending of the same content, not the same work: the peer does
less per message.
"""

from __future__ import annotations

import argparse
import email
import email.policy
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.proc_cpu import process_cpu_seconds  # noqa: E402
from bench.send import bench_env, prepare_database, seed, start_sink  # noqa: E402

VENV = ROOT / "bench" / ".peer-venv"
PROJECT = ROOT / "bench" / "peer_project"
# django-newsletter 1.2.1 supports Django 4.2 and 5.2; it needs a thumbnailer
# (sorl-thumbnail, its default), Pillow and chardet. Everything pinned, so a rerun
# measures the same code.
PEER_REQUIREMENTS = (
    "django-newsletter==1.2.1",
    "Django==5.2.19",
    "sorl-thumbnail==13.4.0",
    "pillow==13.0.0",
    "chardet==7.7.0",
    "asgiref==3.13.0",
    "sqlparse==0.6.1",
)
FAILED = "failed with error"  # what django-newsletter logs for a message it could not send


def peer_python() -> Path:
    """The peer virtualenv's Python; created with this interpreter and filled from the
    package registry on first use, rebuilt when :data:`PEER_REQUIREMENTS` changes."""
    python = VENV / "bin" / "python"
    stamp = VENV / "bench-requirements.txt"
    wanted = "\n".join(PEER_REQUIREMENTS) + "\n"
    if python.exists() and stamp.exists() and stamp.read_text() == wanted:
        return python
    print(f"creating {VENV.relative_to(ROOT)} (once) …", flush=True)
    shutil.rmtree(VENV, ignore_errors=True)
    subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
    pip = [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    subprocess.run([*pip, *PEER_REQUIREMENTS], check=True)
    stamp.write_text(wanted)
    return python


def tidings_sample(tmp: Path) -> tuple[str, str, int]:
    """The demo issue as Tidings sends it in excerpt mode: (HTML part, subject, size of
    the whole message on the wire), rendered by the code ``send_batch`` uses."""
    from service.campaigns.drafts import create_campaign
    from service.campaigns.previews import render_message
    from service.config import load_settings
    from service.db import Database
    from service.mail.dkim_sign import generate_key

    db_url = prepare_database(f"sqlite:///{tmp / 'sample.db'}")
    (tmp / "dkim.pem").write_bytes(generate_key()[0])
    settings = load_settings(bench_env(tmp, db_url, "redis://127.0.0.1:6379/0", 25))
    database = Database(db_url)
    with database.session() as s:
        seed(s, 1)
        campaign = create_campaign(
            s, settings, issue_id=1, lists=["members"], content_mode="excerpt"
        )
        s.commit()
        wire = render_message(s, settings, campaign.id, "m0000000@example.com")
    database.dispose()
    parsed = email.message_from_bytes(wire, policy=email.policy.default)
    html = parsed.get_body(preferencelist=("html",))
    assert html is not None
    return html.get_content(), str(parsed["Subject"]), len(wire)


def run_submit(python: Path, env: dict[str, str], log: Path) -> tuple[float, float, int]:
    """``manage.py submit_newsletter`` once: (wall seconds, CPU seconds, failures logged)."""
    with log.open("wb") as out:
        t0 = time.perf_counter()
        proc = subprocess.Popen(
            [str(python), "manage.py", "submit_newsletter"],
            cwd=PROJECT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
        _, status, usage = os.wait4(proc.pid, 0)
        elapsed = time.perf_counter() - t0
    proc.returncode = os.waitstatus_to_exitcode(status)
    text = log.read_text(errors="replace")
    if proc.returncode != 0:
        raise RuntimeError(f"submit_newsletter exited {proc.returncode}:\n{text[-3000:]}")
    return elapsed, usage.ru_utime + usage.ru_stime, text.count(FAILED)


def run_peer(args: argparse.Namespace, tmp: Path) -> dict[str, float]:
    """Seed the peer project, send through its own command, print and return figures."""
    from service.net import free_port

    python = peer_python()
    html, subject, tidings_bytes = tidings_sample(tmp)
    if args.short_lines:
        html = re.sub(r">\s*<", ">\n<", html)
    content = tmp / "content.html"
    content.write_text(html, encoding="utf-8")
    port = free_port()
    peer_dir = tmp / "peer"
    peer_dir.mkdir()
    env = {**os.environ, "PEER_DIR": str(peer_dir), "PEER_SMTP_PORT": str(port)}
    seeded = subprocess.run(
        [str(python), "manage.py", "seed", str(args.recipients), str(content), subject],
        cwd=PROJECT,
        env=env,
        check=True,
        capture_output=True,
        text=True,
    )
    print(f"peer: {seeded.stdout.strip()} (Tidings' message: {tidings_bytes} bytes)")
    sink = start_sink(port, tmp)
    try:
        load = os.getloadavg()
        sink_before = process_cpu_seconds(sink.pid)
        elapsed, cpu, failed = run_submit(python, env, tmp / "submit.log")
        sink_cpu = process_cpu_seconds(sink.pid) - sink_before
        idle, idle_cpu, _ = run_submit(python, env, tmp / "submit-again.log")
    finally:
        sink.terminate()
        sink.wait(timeout=10)
    sent = args.recipients - failed
    if sent <= 0:
        raise RuntimeError((tmp / "submit.log").read_text()[-3000:])
    rate = sent / elapsed
    print(
        f"peer: django-newsletter 1.2.1 sent {sent:,} of {args.recipients:,} in {elapsed:.1f} s "
        f"→ {rate:,.0f} messages/s end to end (load average {load[0]:.2f} at the start)"
    )
    print(
        f"peer CPU: {1000 * cpu / sent:.2f} ms per message in the sending process "
        f"(one process), sink {1000 * sink_cpu / sent:.2f} ms per message"
    )
    print(
        f"peer start-up: a second run with nothing left to send took {idle:.2f} s "
        f"({idle_cpu:.2f} s CPU), included above; without it {sent / (elapsed - idle):,.0f} "
        f"messages/s, {1000 * (cpu - idle_cpu) / sent:.2f} ms CPU per message"
    )
    return {"rate": rate, "cpu_ms": 1000 * cpu / sent, "load": load[0]}


def run_tidings(recipients: int) -> dict[str, float]:
    """``bench/send.py`` for the same count in a child process; its output, then figures."""
    load = os.getloadavg()
    done = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "send.py"), "--recipients", str(recipients)],
        cwd=ROOT,
        check=True,
        capture_output=True,
        text=True,
    )
    for line in done.stdout.splitlines():
        print(f"  tidings | {line}")
    rate = re.search(r"→ ([\d,]+) messages/s end to end", done.stdout)
    cpu = re.search(r"worker CPU: ([\d.]+) ms per message", done.stdout)
    if rate is None or cpu is None:
        raise RuntimeError(f"bench/send.py printed no rate:\n{done.stdout}\n{done.stderr}")
    return {"rate": float(rate[1].replace(",", "")), "cpu_ms": float(cpu[1]), "load": load[0]}


def main() -> int:
    """Run the peer (and optionally Tidings) and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--recipients", type=int, default=2_000)
    parser.add_argument(
        "--with-tidings",
        action="store_true",
        help="Also run bench/send.py for the same count and print both side by side.",
    )
    parser.add_argument(
        "--short-lines",
        action="store_true",
        help="Break the content's lines at tags, so that Django sends it 8bit, not "
        "quoted-printable.",
    )
    parser.add_argument("--keep", action="store_true", help="Keep the temporary directory.")
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="tidings-bench-peer-"))
    try:
        peer = run_peer(args, tmp)
    finally:
        if args.keep:
            print(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    if args.with_tidings:
        ours = run_tidings(args.recipients)
        print(
            "| recipients | django-newsletter 1.2.1 msg/s (CPU ms/msg) | load "
            "| Tidings msg/s (worker CPU ms/msg) | load | Tidings ÷ peer |"
        )
        print(
            f"| {args.recipients:,} | {peer['rate']:,.0f} ({peer['cpu_ms']:.2f}) "
            f"| {peer['load']:.2f} | {ours['rate']:,.0f} ({ours['cpu_ms']:.2f}) "
            f"| {ours['load']:.2f} | {ours['rate'] / peer['rate']:.1f}× |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
