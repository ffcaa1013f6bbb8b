"""A private Dovecot IMAP server (Debian's dovecot-imapd) for the bounce-mailbox tests.

It runs from its own configuration in its own directory: its own base_dir, state_dir,
log file and ports, so it neither needs nor disturbs a system Dovecot (the package's
postinst starts one on 143/993 on some machines). Plain IMAP and IMAPS both listen on
free 127.0.0.1 ports; the IMAPS certificate is made here, signed by a throwaway CA.
"""

from __future__ import annotations

import grp
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from ipaddress import IPv4Address
from pathlib import Path

import pytest

from service.net import free_port
from service.processes import stop_process_group

DOVECOT = Path("/usr/sbin/dovecot")
# The configuration below is 2.3's (Debian 12); 2.4 renamed and regrouped much of it.
CONFIG_VERSION = "2.3."
START_TIMEOUT_SECONDS = 15.0
USER = "bounces"
# A second mailbox whose server advertises no MOVE (nor UIDPLUS): the COPY + delete path.
NO_MOVE_USER = "bounces-nomove"
PASSWORD = "imap-test-pw"
# When the tests run as root, Dovecot refuses root for its own processes and for mail
# access; these unprivileged accounts stand in (the Debian package creates the first
# two, every system has the last).
INTERNAL_USERS = ("dovecot", "nobody")
LOGIN_USERS = ("dovenull", "nobody")
MAIL_USERS = ("nobody",)

CONFIG = """\
# Written by tests/dovecot.py: nothing is read from /etc/dovecot.
instance_name = tidings-test-{plain_port}
base_dir = {root}/run
state_dir = {root}/state
log_path = {log}
protocols = imap
listen = 127.0.0.1
default_internal_user = {internal_user}
# Some sockets are chowned to this group: the built-in "dovecot" may not be ours to use.
default_internal_group = {internal_group}
default_login_user = {login_user}
# The test user logs in with a password over plain IMAP too (dovecot 2.3 spelling).
disable_plaintext_auth = no
auth_mechanisms = plain login
# Dovecot waits 2 s before answering a failed login; the wrong-password test needn't.
auth_failure_delay = 0
ssl = yes
ssl_cert = <{root}/server.pem
ssl_key = <{root}/server.key
mail_location = maildir:~/Maildir
first_valid_uid = {mail_uid}
passdb {{
  driver = passwd-file
  args = scheme=PLAIN {root}/passwd
}}
userdb {{
  driver = passwd-file
  args = {root}/passwd
}}
# No chroot: only root may chroot, and one config serves root and a developer alike.
service anvil {{
  chroot =
  # Without this socket auth keeps no penalty: otherwise, after the wrong-password test,
  # every login from 127.0.0.1 waits seconds (login_trusted_networks did not lift it).
  unix_listener anvil-auth-penalty {{
    mode = 0
  }}
}}
service imap-login {{
  chroot =
  inet_listener imap {{
    address = 127.0.0.1
    port = {plain_port}
  }}
  inet_listener imaps {{
    address = 127.0.0.1
    port = {ssl_port}
    ssl = yes
  }}
}}
"""


@dataclass(frozen=True)
class ImapServer:
    """Where the private Dovecot listens, who may log in, and what to trust for IMAPS."""

    host: str
    port: int
    ssl_port: int
    user: str
    password: str
    ca_file: Path
    log_path: Path

    def log_tail(self, chars: int = 4000) -> str:
        """The end of Dovecot's log, for failure messages."""
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except FileNotFoundError:
            return "(no dovecot log)"


def require_dovecot() -> None:
    """Skip, with the reason and the fix, on a machine without Debian's dovecot 2.3."""
    if not DOVECOT.exists():
        pytest.skip(
            "needs Debian's dovecot-imapd at /usr/sbin/dovecot: apt-get install dovecot-imapd"
        )
    version = subprocess.run(
        [str(DOVECOT), "--version"], capture_output=True, text=True, check=False
    ).stdout.strip()
    if not version.startswith(CONFIG_VERSION):
        pytest.skip(f"tests/dovecot.py writes a dovecot 2.3 configuration; this is {version!r}")


def _account(candidates: tuple[str, ...]) -> pwd.struct_passwd:
    """The first account of ``candidates`` that exists; as non-root, ourselves."""
    if os.getuid() != 0:
        return pwd.getpwuid(os.getuid())
    for name in candidates:
        try:
            return pwd.getpwnam(name)
        except KeyError:
            continue
    raise RuntimeError(f"none of the accounts {candidates} exists for dovecot")


def write_certificates(folder: Path) -> Path:
    """A throwaway CA and a server certificate for 127.0.0.1/localhost signed by it.

    Writes ``server.pem``/``server.key`` for Dovecot and returns the CA file a client
    trusts (a CA rather than a self-signed leaf: that is what strict verifiers accept).
    """
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    now = datetime.now(UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Tidings test CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=7))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), False)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    server = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=7))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(IPv4Address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), False
        )
        .sign(ca_key, hashes.SHA256())
    )
    pem = serialization.Encoding.PEM
    (folder / "server.pem").write_bytes(server.public_bytes(pem))
    (folder / "server.key").write_bytes(
        key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    ca_file = folder / "ca.pem"
    ca_file.write_bytes(ca.public_bytes(pem))
    return ca_file


def _wait_for_banner(proc: subprocess.Popen[bytes], server: ImapServer) -> None:
    """Until the plain port greets with ``* OK``; fail with the log if Dovecot exits."""
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    while True:
        try:
            with socket.create_connection((server.host, server.port), timeout=2) as sock:
                if sock.recv(100).startswith(b"* OK"):
                    return
        except OSError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            stop_process_group(proc)
            output = (server.log_path.parent / "stdout.log").read_text(errors="replace")
            raise RuntimeError(f"dovecot did not start:\n{output}\n{server.log_tail()}")
        time.sleep(0.1)


def start_dovecot() -> tuple[subprocess.Popen[bytes], ImapServer, Path]:
    """Start the private instance in the foreground; return it, where it is, and its dir.

    The directory is made with ``mkdtemp`` rather than pytest's tmp_path: pytest's is
    private to the user running the tests, and Dovecot's unprivileged processes (auth,
    mail) must reach their files.
    """
    root = Path(tempfile.mkdtemp(prefix="tidings-dovecot-"))
    root.chmod(0o711)
    internal, login, mail = (_account(c) for c in (INTERNAL_USERS, LOGIN_USERS, MAIL_USERS))
    (root / "mail").mkdir()
    if os.getuid() == 0:
        os.chown(root / "mail", mail.pw_uid, mail.pw_gid)
    passwd = root / "passwd"
    # user:password:uid:gid:gecos:home:shell:extra fields. A userdb extra field can set
    # any setting for one user; a single word, since the fields are space-separated.
    capabilities = {USER: "", NO_MOVE_USER: "userdb_imap_capability=IMAP4rev1"}
    passwd.write_text(
        "".join(
            f"{name}:{{PLAIN}}{PASSWORD}:{mail.pw_uid}:{mail.pw_gid}::{root}/mail/{name}::{extra}\n"
            for name, extra in capabilities.items()
        )
    )
    passwd.chmod(0o644)  # read by the auth process, which runs as the internal user
    ca_file = write_certificates(root)
    port = ssl_port = free_port()
    while ssl_port == port:  # the OS may hand out a port it just gave back
        ssl_port = free_port()
    server = ImapServer(
        host="127.0.0.1",
        port=port,
        ssl_port=ssl_port,
        user=USER,
        password=PASSWORD,
        ca_file=ca_file,
        log_path=root / "dovecot.log",
    )
    conf = root / "dovecot.conf"
    conf.write_text(
        CONFIG.format(
            root=root,
            log=server.log_path,
            internal_user=internal.pw_name,
            internal_group=grp.getgrgid(internal.pw_gid).gr_name,
            login_user=login.pw_name,
            mail_uid=mail.pw_uid,
            mail_gid=mail.pw_gid,
            plain_port=server.port,
            ssl_port=server.ssl_port,
        )
    )
    with (root / "stdout.log").open("wb") as out:
        proc = subprocess.Popen(
            [str(DOVECOT), "-F", "-c", str(conf)],
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # so stopping it takes its imap and login children too
        )
    try:
        _wait_for_banner(proc, server)
    except RuntimeError:
        shutil.rmtree(root, ignore_errors=True)
        raise
    return proc, server, root


def stop_dovecot(proc: subprocess.Popen[bytes], root: Path) -> None:
    """Stop the instance and its children, then remove its directory."""
    stop_process_group(proc)
    shutil.rmtree(root, ignore_errors=True)
