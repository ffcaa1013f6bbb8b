"""Test hosts made of network namespaces: one server host and worker hosts, each worker
host linked to the server host by its own veth pair (a /30 subnet), and nothing else.

Nothing here touches the root namespace's interfaces, routes or firewall: the pairs are
created inside the namespaces, and the only traffic is between them. Names carry the
test's pid, so a run never meets another's leftovers; ``remove`` deletes them all.

The test process itself works on the server host: ``Hosts.enter`` moves the calling
thread into its namespace (``setns``), so the sockets, threads and child processes it
makes from then on (the sink, Redis, PostgreSQL, the beat jobs' connections) live there.
"""

from __future__ import annotations

import ctypes
import os
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

CLONE_NEWNET = 0x40000000
SUBNET = "10.213.{n}.{host}"  # link n: .1 on the server host, .2 on the worker host


class NetnsUnavailable(RuntimeError):
    """Network namespaces cannot be made here (not root, no ``ip``, no kernel support)."""


def ip(*args: str) -> None:
    """Run ``ip`` with ``args``; raise with its message when it fails."""
    done = subprocess.run(["ip", *args], capture_output=True, text=True, timeout=30)
    if done.returncode != 0:
        raise RuntimeError(f"ip {' '.join(args)}: {done.stderr.strip()}")


def _setns(fd: int) -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.setns(fd, CLONE_NEWNET) != 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err))


@dataclass
class Link:
    """The veth pair between the server host and one worker host."""

    n: int
    host: str  # the worker host's namespace
    server_end: str  # interface name on the server host
    worker_end: str

    @property
    def server_address(self) -> str:
        """The server host's address as this worker host sees it."""
        return SUBNET.format(n=self.n, host=1)


@dataclass
class Hosts:
    """A server host and worker hosts (namespaces) linked by veth pairs."""

    server: str
    links: list[Link] = field(default_factory=list)

    @property
    def names(self) -> list[str]:
        """Every namespace made."""
        return [self.server, *(link.host for link in self.links)]

    def prefix(self, link: Link) -> list[str]:
        """The command prefix that runs a program on the worker host of ``link``."""
        return ["ip", "netns", "exec", link.host]

    def cut(self, link: Link) -> None:
        """Pull the cable: the server host's end goes down, the worker host sees no
        carrier; its processes live on, their packets go nowhere."""
        ip("-n", self.server, "link", "set", link.server_end, "down")

    def restore(self, link: Link) -> None:
        """Plug it back in."""
        ip("-n", self.server, "link", "set", link.server_end, "up")

    @contextmanager
    def enter(self) -> Iterator[None]:
        """Run the calling thread on the server host until the block ends."""
        own = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
        target = os.open(f"/run/netns/{self.server}", os.O_RDONLY)
        try:
            _setns(target)
            try:
                yield
            finally:
                _setns(own)
        finally:
            os.close(own)
            os.close(target)

    def remove(self) -> None:
        """Delete every namespace (and so its veth ends); quiet about missing ones."""
        for name in self.names:
            subprocess.run(["ip", "netns", "del", name], capture_output=True, timeout=30)


def make_hosts(tag: str, workers: int) -> Hosts:
    """A server host ``td-db-<tag>`` and ``workers`` hosts ``td-w<n>-<tag>``, each linked
    to it. Raises ``NetnsUnavailable`` when namespaces cannot be made; on any other
    failure what was made is removed."""
    if os.geteuid() != 0 or shutil.which("ip") is None:
        raise NetnsUnavailable("network namespaces need root and iproute2's ip")
    hosts = Hosts(server=f"td-db-{tag}")
    try:
        ip("netns", "add", hosts.server)
    except RuntimeError as exc:
        raise NetnsUnavailable(str(exc)) from exc
    try:
        ip("-n", hosts.server, "link", "set", "lo", "up")
        for n in range(1, workers + 1):
            hosts.links.append(_link(hosts.server, n, tag))
    except BaseException:
        hosts.remove()
        raise
    return hosts


def _link(server: str, n: int, tag: str) -> Link:
    link = Link(n, f"td-w{n}-{tag}", f"td{n}s{tag}"[:15], f"td{n}w{tag}"[:15])
    ip("netns", "add", link.host)
    ip("-n", link.host, "link", "set", "lo", "up")
    # Made inside the server host, one end moved to the worker host: the root namespace
    # never holds either end.
    pair = [link.server_end, "type", "veth", "peer", "name", link.worker_end]
    ip("-n", server, "link", "add", *pair)
    ip("-n", server, "link", "set", link.worker_end, "netns", link.host)
    ip("-n", server, "addr", "add", SUBNET.format(n=n, host=1) + "/30", "dev", link.server_end)
    ip("-n", link.host, "addr", "add", SUBNET.format(n=n, host=2) + "/30", "dev", link.worker_end)
    ip("-n", server, "link", "set", link.server_end, "up")
    ip("-n", link.host, "link", "set", link.worker_end, "up")
    return link
