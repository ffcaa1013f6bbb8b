"""The real MX lookup (dnspython) against a tiny DNS server in this process: answers,
"no such name", and a server that never answers, which must cost only the lifetime."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator

import dns.message
import dns.rcode
import dns.resolver
import dns.rrset
import pytest

from service.mail.dns_records import DnsUnavailable, mx_resolver
from service.mail.providers import classify

ZONE = {
    "dlport.com.cn.": ["5 mxbiz1.qq.com.", "10 mxbiz2.qq.com."],
    "xn--fsqu00a.xn--fiqs8s.": ["10 mxw.mxhichina.com."],
}


def _serve(sock: socket.socket, answer: bool) -> None:
    while True:
        try:
            data, peer = sock.recvfrom(4096)
        except OSError:
            return  # closed: the test is over
        if not answer:
            continue
        query = dns.message.from_wire(data)
        reply = dns.message.make_response(query)
        name = query.question[0].name.to_text()
        if name in ZONE:
            reply.answer.append(dns.rrset.from_text(name, 300, "IN", "MX", *ZONE[name]))
        else:
            reply.set_rcode(dns.rcode.NXDOMAIN)
        sock.sendto(reply.to_wire(), peer)


def _server(monkeypatch: pytest.MonkeyPatch, answer: bool) -> Iterator[None]:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    threading.Thread(target=_serve, args=(sock, answer), daemon=True).start()
    resolver = dns.resolver.Resolver(configure=False)
    resolver.nameservers = ["127.0.0.1"]
    resolver.port = sock.getsockname()[1]
    monkeypatch.setattr(dns.resolver, "default_resolver", resolver)
    yield
    sock.close()


@pytest.fixture
def dns_server(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The process's resolver asks a server on 127.0.0.1 that knows ``ZONE``."""
    yield from _server(monkeypatch, answer=True)


@pytest.fixture
def silent_server(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The process's resolver asks a server that reads every query and answers none."""
    yield from _server(monkeypatch, answer=False)


def test_the_mx_records_come_back_ordered_and_classify_the_domain(dns_server):
    records = mx_resolver("dlport.com.cn")
    assert sorted(records) == [(5, "mxbiz1.qq.com"), (10, "mxbiz2.qq.com")]
    assert classify("dlport.com.cn", records) == "tencent_exmail"


def test_an_idn_is_asked_for_by_its_a_label(dns_server):
    assert mx_resolver("xn--fsqu00a.xn--fiqs8s") == [(10, "mxw.mxhichina.com")]


def test_no_such_name_is_no_records(dns_server):
    assert mx_resolver("gone.example.cn") == []


def test_a_server_that_never_answers_costs_the_lifetime_only(silent_server):
    start = time.monotonic()
    with pytest.raises(DnsUnavailable):
        mx_resolver("dlport.com.cn", lifetime=0.5)
    assert time.monotonic() - start < 1.5
