"""Which mailbox provider a recipient domain belongs to (issue 17, item 4): the table of
consumer domains, the MX patterns of hosted company mail, and the edge spellings."""

from __future__ import annotations

import pytest

from service.mail import providers
from service.mail.dns_records import DnsUnavailable
from service.mail.providers import (
    CONSUMER_DOMAINS,
    MX_PATTERNS,
    PROVIDERS,
    classify,
    domain_key,
    is_reserved,
    provider_of_mx,
    sees_public_dns,
)
from service.web.labels import PROVIDER_LABELS


@pytest.mark.parametrize(
    ("domain", "provider"),
    [
        ("qq.com", "tencent"),
        ("foxmail.com", "tencent"),
        ("vip.qq.com", "tencent"),
        ("163.com", "netease"),
        ("126.com", "netease"),
        ("yeah.net", "netease"),
        ("188.com", "netease"),
        ("sina.cn", "sina"),
        ("sohu.com", "sohu"),
        ("139.com", "china_mobile"),
        ("aliyun.com", "aliyun"),
        ("googlemail.com", "gmail"),
        ("hotmail.com", "outlook"),
        ("icloud.com", "icloud"),
    ],
)
def test_a_consumer_domain_is_named_by_the_table_without_dns(domain, provider):
    assert classify(domain) == provider


@pytest.mark.parametrize(
    ("mx", "provider"),
    [
        ([(5, "mxbiz1.qq.com"), (10, "mxbiz2.qq.com")], "tencent_exmail"),
        ([(10, "mx.exmail.qq.com")], "tencent_exmail"),
        ([(10, "qiye163mx01.mxmail.netease.com")], "netease_qiye"),
        ([(10, "mx.qiye.163.com")], "netease_qiye"),
        ([(5, "mxw.mxhichina.com"), (10, "mxn.mxhichina.com")], "alibaba_mail"),
        ([(5, "mx1.qiye.aliyun.com")], "alibaba_mail"),
        ([(1, "aspmx.l.google.com"), (5, "alt1.aspmx.l.google.com")], "google_workspace"),
        ([(0, "dlport-com.mail.protection.outlook.com")], "microsoft_365"),
        ([(10, "MXBIZ1.QQ.COM.")], "tencent_exmail"),  # as a zone file may spell it
    ],
)
def test_a_company_domain_is_named_by_its_mx_hosts(mx, provider):
    assert classify("dlport.com.cn", mx) == provider


def test_the_most_preferred_matching_host_decides():
    # A gateway of its own first, Exmail behind it: Exmail is who holds the mailboxes.
    mx = [(20, "mx.other.example.net"), (10, "filter.dlport.com.cn"), (30, "mxbiz1.qq.com")]
    assert provider_of_mx("dlport.com.cn", mx) == ("tencent_exmail", "mxbiz1.qq.com")


def test_a_company_on_its_own_mail_server_is_its_own_provider():
    assert provider_of_mx("dlport.com.cn", [(10, "mail.dlport.com.cn")]) == (
        "dlport.com.cn",
        "mail.dlport.com.cn",
    )
    assert provider_of_mx("gone.cn", []) == ("gone.cn", "")


@pytest.mark.parametrize(
    ("raw", "key"),
    [
        ("QQ.com", "qq.com"),
        ("qq.com.", "qq.com"),
        (" 163.COM.. ", "163.com"),
        ("xn--fiq228c.xn--fiqs8s", "中文.中国"),  # an A-label reads as its U-label
        ("中文。中国", "中文.中国"),  # a full-width dot, as Chinese input methods type it
        ("ÉCOLE.fr", "école.fr"),
    ],
)
def test_spellings_of_one_domain_fold_to_one_key(raw, key):
    assert domain_key(raw) == key


def test_case_and_trailing_dots_do_not_hide_a_consumer_domain():
    assert classify("FoxMail.COM.") == "tencent"


def test_documentation_names_are_never_looked_up():
    assert is_reserved("example.org") and is_reserved("members.example.org")
    assert is_reserved("mail.test") and not is_reserved("examples.org")


def test_every_provider_has_a_translated_label_and_every_code_is_known():
    codes = set(CONSUMER_DOMAINS.values()) | {code for _, code in MX_PATTERNS}
    assert codes <= set(PROVIDERS)
    assert set(PROVIDER_LABELS) == {*PROVIDERS, providers.UNKNOWN}


def test_a_resolver_that_knows_no_public_name_counts_as_no_dns():
    def sandbox(name):  # "no such name" to everything, gmail.com included
        return []

    def offline(name):
        raise DnsUnavailable("no nameservers")

    def public(name):
        return [(5, "gmail-smtp-in.l.google.com")] if name == "gmail.com" else []

    assert not sees_public_dns(sandbox)
    assert not sees_public_dns(offline)
    assert sees_public_dns(public)
