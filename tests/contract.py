"""Names that DESIGN.md §7 fixes as a contract, written down once for the tests.

Kept apart from the code under test on purpose: a test that read these from the service
could not notice the service dropping one.
"""

REPORT_KEYS = frozenset(
    {
        "recipients",
        "sent",
        "failed",
        "unknown",
        "bounced_hard",
        "bounced_soft",
        "complaints",
        "opens_unique",
        "opens_total",
        "opens_machine",
        "clicks_unique",
        "clicks_total",
        "unsubscribes",
        "links",
    }
)

# Each row of the report's ``domains`` key (issue 17, item 4, which names these fields).
DOMAIN_KEYS = frozenset(
    {"domain", "provider", "sent", "deferred", "bounced_hard", "bounced_soft", "complaints"}
)
