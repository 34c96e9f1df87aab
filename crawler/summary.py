"""Reading back what a crawl process says about itself.

``python -m crawler`` ends by printing its summary as one JSON object on a line of its own (after
whatever else it printed). The parent that started it (the crawl that shares work among processes,
the scheduler's crawl job) reads it back here, the one place that knows that shape.
"""

from __future__ import annotations

import json
from typing import Any


def read_summary(output: str) -> dict[str, Any] | None:
    """The last JSON object printed on a line of its own, or ``None`` if the process printed none
    (it died first, or wrote something else)."""
    for line in reversed(output.splitlines()):
        text = line.strip()
        if not text.startswith("{"):
            continue
        try:
            found = json.loads(text)
        except json.JSONDecodeError:
            continue
        if isinstance(found, dict):
            return found
    return None
