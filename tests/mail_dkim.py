"""Mail::DKIM, the Perl library SpamAssassin verifies DKIM with, as a second verifier.

dkimpy is the tests' main verifier; Mail::DKIM shares no code with it or with our signer,
so a canonicalisation or header-selection mistake that both Python sides make alike still
shows.  It comes with Debian's spamassassin package (libmail-dkim-perl), which .ci/run
installs; no Python verifier independent of dkimpy installs here (authheaders wraps
dkimpy, emailsec needs Python 3.12).
"""

from __future__ import annotations

import shutil
import subprocess
from functools import cache
from pathlib import Path

# Answers the one TXT query for the test selector with the test key (no DNS), then
# prints Mail::DKIM's overall result (pass, fail, invalid, none, ...) for each file.
VERIFIER = r"""
use strict;
use warnings;
use Mail::DKIM::Verifier;
use Net::DNS;

my ($name, $record, @files) = @ARGV;
{
    no warnings 'redefine';
    *Mail::DKIM::DNS::query = sub {
        my ($domain, $type) = @_;
        return () unless $type eq 'TXT' && lc($domain) eq lc($name);
        # A TXT character-string holds at most 255 octets (RFC 1035 §3.3.14).
        my @strings = unpack '(A255)*', $record;
        return Net::DNS::RR->new(name => $domain, type => 'TXT', txtdata => \@strings);
    };
}
for my $file (@files) {
    open my $fh, '<:raw', $file or die "$file: $!";
    my $verifier = Mail::DKIM::Verifier->new;
    $verifier->load($fh);
    close $fh;
    print $verifier->result, "\n";
}
"""
SKIP_REASON = "Mail::DKIM (Debian package libmail-dkim-perl, with spamassassin) is not installed"


@cache
def available() -> bool:
    """True if perl with Mail::DKIM and Net::DNS is on this machine."""
    perl = shutil.which("perl")
    if perl is None:
        return False
    probe = subprocess.run(
        [perl, "-MMail::DKIM::Verifier", "-MNet::DNS", "-e", "1"], capture_output=True
    )
    return probe.returncode == 0


def verify(messages: list[bytes], dns_name: str, txt_value: str, directory: Path) -> list[str]:
    """Return Mail::DKIM's result for each message (one perl run for all of them).

    `dns_name` and `txt_value` are the key record (`DkimSigner.dns_name`, ``dns_txt_value``);
    the messages are written to `directory` first.
    """
    paths = []
    for n, message in enumerate(messages):
        path = directory / f"message-{n}.eml"
        path.write_bytes(message)
        paths.append(str(path))
    done = subprocess.run(
        ["perl", "-e", VERIFIER, dns_name, txt_value, *paths],
        capture_output=True,
        check=True,
        text=True,
        timeout=60,
    )
    return done.stdout.split()
