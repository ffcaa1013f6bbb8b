"""Routes collected in a module and added to a blueprint later.

One blueprint's pages may then live in several modules (``issues`` and its
``issue_uploads`` and ``issue_review``) without those modules importing the one that makes
the blueprint: every URL and endpoint name stays the blueprint's, as with ``bp.route``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

View = Callable[..., Any]


class Routes:
    """``@routes.route(rule, **options)`` as on a blueprint; ``routes.register(bp)`` adds them."""

    def __init__(self) -> None:
        self._rules: list[tuple[str, View, dict[str, Any]]] = []

    def route(self, rule: str, **options: Any) -> Callable[[View], View]:
        """Collect ``view`` for ``rule``; the options are those of ``Blueprint.route``."""

        def collect(view: View) -> View:
            self._rules.append((rule, view, options))
            return view

        return collect

    def register(self, bp: Any) -> None:
        """Add every collected route to ``bp``, in the order they were declared."""
        for rule, view, options in self._rules:
            endpoint = options.get("endpoint")
            rest = {k: v for k, v in options.items() if k != "endpoint"}
            bp.add_url_rule(rule, endpoint, view, **rest)
