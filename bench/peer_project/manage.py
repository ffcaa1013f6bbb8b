"""``manage.py`` of the peer project; runs only with the peer virtualenv's Python.

``manage.py seed N CONTENT.html TITLE`` migrates a fresh database and creates what an
operator makes in the admin (see :func:`seed`); any other argument is a Django command,
``manage.py submit_newsletter`` being django-newsletter's own sending, the command its
installation guide puts in cron.
"""

import os
import sys
from pathlib import Path

SENDER_NAME = "大连市数字贸易协会"
SENDER_EMAIL = "news@example.org"


def seed(count: int, content: str, title: str) -> None:
    """One newsletter, ``count`` subscriptions, one message whose one article holds the
    content, and its submission queued as the admin's "submit" button leaves it
    (``prepared = True``), for ``submit_newsletter`` to find."""
    from django.core.management import call_command
    from django.utils.timezone import now
    from newsletter.models import Article, Message, Newsletter, Submission, Subscription

    call_command("migrate", verbosity=0)
    letter = Newsletter.objects.create(
        title="大连数字贸易", slug="members", email=SENDER_EMAIL, sender=SENDER_NAME
    )
    at = now()
    Subscription.objects.bulk_create(
        Subscription(
            newsletter=letter,
            email_field=f"m{i:07d}@example.com",
            name_field=f"会员{i}",
            subscribed=True,
            subscribe_date=at,
        )
        for i in range(count)
    )
    message = Message.objects.create(title=title, slug="issue-1", newsletter=letter)
    Article.objects.create(post=message, title=title, text=content, sortorder=10)
    submission = Submission.from_message(message)
    submission.prepared = True
    submission.save()
    first = submission.subscriptions.order_by("pk").first()
    wire = submission.get_message(first).message().as_bytes(linesep="\r\n")
    print(f"seeded {count} subscriptions; one message is {len(wire)} bytes on the wire")


def main() -> None:
    """``seed N CONTENT TITLE``, or any Django management command."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "settings")
    if sys.argv[1:2] == ["seed"]:
        import django

        django.setup()
        seed(int(sys.argv[2]), Path(sys.argv[3]).read_text(encoding="utf-8"), sys.argv[4])
        return
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()
