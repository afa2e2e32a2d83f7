"""Run facts, written by the helpers themselves for the book's tools (status page, metadata).

``setup()`` records the profile, device, torch version and threads; the first trainer that
finishes records the section's headline metrics. ``tools/book.py`` reads them back through
``emit()``, which it runs in a hidden last cell, so no tool has to parse printed Chinese lines.
"""
from __future__ import annotations

import json
import math
from typing import Any

MIME = "application/vnd.d2l.facts+json"

_facts: dict[str, Any] = {}
_frozen = False


def reset() -> None:
    """Forget everything (a fresh ``setup()``)."""
    global _frozen
    _facts.clear()
    _frozen = False


def record_setup(**values: Any) -> None:
    _facts["setup"] = {k: str(v) for k, v in values.items()}


def record_metrics(**values: float) -> None:
    """The headline result: only the first training run counts, and none after ``freeze()``."""
    if _frozen or "metrics" in _facts:
        return
    _facts["metrics"] = {k: (float(v) if math.isfinite(float(v)) else None) for k, v in values.items()}


def freeze() -> None:
    """Called by the book's tools before the exercises: their runs are not the section's result."""
    global _frozen
    _frozen = True


def current() -> dict[str, Any]:
    return json.loads(json.dumps(_facts))


def emit() -> None:
    """Show the facts as a JSON output that the tools read (and strip from the notebook)."""
    try:
        from IPython.display import display
    except ImportError:  # pragma: no cover - a plain script
        print(json.dumps(_facts, ensure_ascii=False))
        return
    display({MIME: current()}, raw=True)
