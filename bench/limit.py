"""This machine's limit for the work of sending a campaign, measured beside the campaign.

The limit is the same work with nothing else around it: ``processes`` OS processes (as many
as the worker pool has), each taking pre-built messages of the campaign's own size,
putting a per-message ``To`` and ``Message-ID`` into them, DKIM-signing each one with the
campaign's RSA-2048 key through OpenSSL (``cryptography``: the body hash and the
signature, relaxed header canonicalisation) and sending it over one kept SMTP connection
to the same sink, the way the best client does it: RFC 2920 PIPELINING (MAIL FROM, RCPT
TO and DATA in one write, their three replies read together, then the dot-stuffed content
and its reply: two round trips a message, as Tidings' own relay client does). No
database, no Redis, no Celery, no tracking tokens. A campaign rate is then read as a
fraction of this figure, which moves with the machine the way the campaign does (a fixed
msg/s target means nothing on machines that differ by 2×).

Until 4 Dec 2026 the limit sent through ``smtplib.sendmail`` (four round trips a message
and a regex for the dot-stuffing) while the campaign pipelined: a yardstick 30–45 % below
what the machine can do, which the campaign could even beat (ratios of 0.97–1.01).

Run alone: ``.venv/bin/python bench/limit.py --port 2525 --messages 10000`` against a
sink already listening (``bench/send.py`` calls :func:`measure` itself).
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import multiprocessing
import socket
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from service.mail.relays import smtp_content  # noqa: E402

SIGNED = (b"from", b"to", b"subject", b"date", b"message-id", b"mime-version", b"content-type")


def split(message: bytes) -> tuple[list[tuple[bytes, bytes]], bytes]:
    """Header fields (name, raw value incl. folding) and the body of a CRLF message."""
    head, _, body = message.partition(b"\r\n\r\n")
    fields: list[tuple[bytes, bytes]] = []
    for line in head.split(b"\r\n"):
        if line[:1] in (b" ", b"\t") and fields:
            name, value = fields[-1]
            fields[-1] = (name, value + b"\r\n" + line)
        else:
            name, _, value = line.partition(b":")
            fields.append((name, value))
    return fields, body


def relaxed(name: bytes, value: bytes) -> bytes:
    """RFC 6376 §3.4.2 relaxed header canonicalisation of one field."""
    unfolded = b" ".join(value.replace(b"\r\n", b"").split())
    return name.strip().lower() + b":" + unfolded + b"\r\n"


class Signer:
    """The least DKIM signing can do per message: hash the body, hash the headers, RSA."""

    def __init__(self, pem: bytes, domain: bytes, selector: bytes) -> None:
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import padding

        self.key = serialization.load_pem_private_key(pem, password=None)
        self.padding, self.hash = padding.PKCS1v15(), hashes.SHA256()
        self.domain, self.selector = domain, selector

    def sign(self, fields: list[tuple[bytes, bytes]], body: bytes) -> bytes:
        """The DKIM-Signature field (with CRLF) for these fields and this body."""
        bh = base64.b64encode(hashlib.sha256(body.rstrip(b"\r\n") + b"\r\n").digest())
        names = [n for n, _ in fields if n.lower() in SIGNED]
        stub = (
            b"v=1; a=rsa-sha256; c=relaxed/simple; d=" + self.domain + b"; s=" + self.selector
            + b"; h=" + b":".join(names) + b"; bh=" + bh + b"; b="
        )  # fmt: skip
        data = b"".join(relaxed(n, v) for n, v in fields if n.lower() in SIGNED)
        data += relaxed(b"DKIM-Signature", b" " + stub)[:-2]
        signature = self.key.sign(data, self.padding, self.hash)  # type: ignore[union-attr,call-arg]
        return b"DKIM-Signature: " + stub + base64.b64encode(signature) + b"\r\n"


def personalised(
    fields: list[tuple[bytes, bytes]], index: int
) -> tuple[list[tuple[bytes, bytes]], bytes]:
    """The fields with this recipient's To and Message-ID; and the recipient."""
    rcpt = b"m%07d@example.com" % index
    out = []
    for name, value in fields:
        lower = name.lower()
        if lower == b"dkim-signature":  # the pre-built message's own; a new one is made
            continue
        if lower == b"to":
            value = b" <" + rcpt + b">"
        elif lower == b"message-id":
            value = b" <limit.%d@example.org>" % index
        out.append((name, value))
    return out, rcpt


class Pipelined:
    """The least an SMTP client can do per message on a kept connection (RFC 2920)."""

    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port))
        self.replies = self.sock.makefile("rb")
        self.expect(220)
        self.sock.sendall(b"EHLO limit.example.org\r\n")
        self.expect(250)

    def expect(self, code: int) -> None:
        """Read one (possibly multi-line) reply; it must have this code."""
        while True:
            line = self.replies.readline()
            if line[3:4] != b"-":
                break
        if int(line[:3]) != code:
            raise RuntimeError(f"the sink answered {line!r}, expected {code}")

    def send(self, mail_from: bytes, rcpt: bytes, wire: bytes) -> None:
        """One message: the envelope pipelined, then the dot-stuffed content."""
        self.sock.sendall(b"MAIL FROM:<" + mail_from + b">\r\nRCPT TO:<" + rcpt + b">\r\nDATA\r\n")
        for code in (250, 250, 354):
            self.expect(code)
        self.sock.sendall(smtp_content(wire))  # the worker's dot-stuffing, the cheapest
        self.expect(250)

    def quit(self) -> None:
        """QUIT and close."""
        self.sock.sendall(b"QUIT\r\n")
        self.sock.close()


def run_share(job: tuple[int, bytes, bytes, int, int, int]) -> tuple[int, float, float]:
    """One process's share: (messages sent, wall start, wall end) on the shared clock."""
    port, pem, message, first, count, barrier_at = job
    fields, body = split(message)
    signer = Signer(pem, b"example.org", b"bench")
    conn = Pipelined(port)
    while time.time() < barrier_at:  # every process starts on the same instant
        time.sleep(0.001)
    start = time.time()
    for i in range(first, first + count):
        own, rcpt = personalised(fields, i)
        head = b"".join(n + b":" + v + b"\r\n" for n, v in own)
        wire = signer.sign(own, body) + head + b"\r\n" + body
        conn.send(b"b@bounces.example.org", rcpt, wire)
    end = time.time()
    conn.quit()
    return count, start, end


def measure(port: int, pem: bytes, message: bytes, total: int, processes: int) -> float:
    """Messages/second of ``processes`` processes signing and sending ``total`` messages."""
    share = total // processes
    barrier = time.time() + 1.0  # time for the processes to start and connect
    jobs = [(port, pem, message, k * share, share, barrier) for k in range(processes)]
    with multiprocessing.get_context("spawn").Pool(processes) as pool:
        results = pool.map(run_share, jobs)
    sent = sum(r[0] for r in results)
    return sent / (max(r[2] for r in results) - min(r[1] for r in results))


def main() -> int:
    """Measure the limit against a sink that is already listening."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True, help="The sink's port.")
    parser.add_argument("--messages", type=int, default=10_000)
    parser.add_argument("--processes", type=int, default=multiprocessing.cpu_count())
    parser.add_argument("--size-kb", type=int, default=59, help="Body size of each message.")
    args = parser.parse_args()
    from service.mail.dkim_sign import generate_key

    pem, _ = generate_key()
    line = "大连数字贸易 " * 5 + "\r\n"
    body = (line * (args.size_kb * 1024 // len(line.encode()) + 1)).encode()
    message = (
        b"From: news@example.org\r\nTo: x@example.com\r\nSubject: limit\r\n"
        b"Message-ID: <x@example.org>\r\nMIME-Version: 1.0\r\n"
        b"Content-Type: text/plain; charset=utf-8\r\n\r\n" + body
    )
    rate = measure(args.port, pem, message, args.messages, args.processes)
    print(f"limit: {rate:,.0f} messages/s ({args.processes} processes, {args.size_kb} KB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
