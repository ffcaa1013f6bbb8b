"""Tasks of the sending engine (queue `send`) and its beat jobs."""

from __future__ import annotations

from typing import Any

# Periodic jobs of this module, merged into the beat schedule by worker.app.
BEAT: dict[str, dict[str, Any]] = {}
