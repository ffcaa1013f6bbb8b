"""A site for a whole-campaign run: a fresh migrated database holding the demo issue and
``n`` members on its list "members", the service's settings for it, and a started campaign
of the demo issue. ``bench/send.py``, ``bench/faults.py``, ``bench/peer.py`` and the
faults-across-hosts test use it (benchmarks import tests' parts, never the other way).
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import insert, select, text

from tests.integration.campaigns.conftest import Harness

SEED_CHUNK = 10_000


def bench_env(tmp: Path, db_url: str, redis_url: str, smtp_port: int) -> dict[str, str]:
    """The service's settings for a benchmark run in ``tmp`` (the DKIM key goes to
    ``tmp / "dkim.pem"``, written by the caller)."""
    return {
        "TIDINGS_DATA_DIR": str(tmp / "data"),
        "TIDINGS_DATABASE_URL": db_url,
        "TIDINGS_REDIS_URL": redis_url,
        "TIDINGS_SECRET_KEY": "bench-secret-key-0123456789abcdef",
        "TIDINGS_BASE_URL": "https://news.example.org",
        "TIDINGS_FROM": "大连市数字贸易协会 <news@example.org>",
        "TIDINGS_SMTP_URL": f"smtp://127.0.0.1:{smtp_port}",
        "TIDINGS_BOUNCE_DOMAIN": "bounces.example.org",
        "TIDINGS_DKIM_DOMAIN": "example.org",
        "TIDINGS_DKIM_SELECTOR": "bench",
        "TIDINGS_DKIM_KEY_FILE": str(tmp / "dkim.pem"),
    }


def prepare_database(url: str) -> str:
    """Create (PostgreSQL) or place (SQLite) the database, migrated and empty."""
    from service.config import load_settings
    from service.migrate import upgrade

    url = load_settings({"TIDINGS_DATABASE_URL": url, "TIDINGS_SECRET_KEY": "x" * 32}).database_url
    if url.startswith("postgresql"):
        from sqlalchemy import create_engine

        base, _, name = url.rpartition("/")
        admin = create_engine(base + "/postgres", isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        admin.dispose()
    upgrade(url)
    return url


def seed(session: object, n: int) -> None:
    """The demo issue and list, and ``n`` active subscribers (bulk inserts)."""
    from service.cli.demo import load_demo
    from service.model import MailingList, Membership, Subscriber

    s = session  # type: ignore[assignment]
    load_demo(s)  # type: ignore[arg-type]
    list_id = s.scalar(select(MailingList.id).where(MailingList.slug == "members"))  # type: ignore[attr-defined]
    for start in range(0, n, SEED_CHUNK):
        rows = [
            {
                "email": f"m{i:07d}@example.com",
                "email_ascii": f"m{i:07d}@example.com",
                "name": f"会员{i}",
            }
            for i in range(start, min(n, start + SEED_CHUNK))
        ]
        s.execute(insert(Subscriber), rows)  # type: ignore[attr-defined]
    ids = s.scalars(select(Subscriber.id).where(Subscriber.email.like("m%@example.com")))  # type: ignore[attr-defined]
    batch = []
    for sid in ids:
        batch.append({"subscriber_id": sid, "list_id": list_id, "status": "active"})
        if len(batch) >= SEED_CHUNK:
            s.execute(insert(Membership), batch)  # type: ignore[attr-defined]
            batch = []
    if batch:
        s.execute(insert(Membership), batch)  # type: ignore[attr-defined]
    s.commit()  # type: ignore[attr-defined]


def start_campaign(h: Harness) -> int:
    """The demo issue to list "members", started (compiled, running)."""
    from service.campaigns import engine
    from service.campaigns.drafts import create_campaign
    from service.model import Issue

    with h.session() as s:
        issue_id = s.scalar(select(Issue.id).order_by(Issue.id))
        c = create_campaign(
            s, h.settings, issue_id=issue_id, lists=["members"], content_mode="excerpt"
        )
        s.commit()
        engine.start(s, h.settings, c.id)
        return c.id
