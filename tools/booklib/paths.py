"""Where the book lives: the repository root and the helper package that sections use."""
from __future__ import annotations

import sys
from pathlib import Path

# Modules read these as ``paths.ROOT`` / ``paths.HELPERS`` at call time, so a test can point them elsewhere.
ROOT = Path(__file__).resolve().parent.parent.parent
sys.path.insert(0, str(ROOT))  # the book's own d2lutils, even without installing it
HELPERS = ROOT / "d2lutils"


def relative(path: Path) -> Path:
    """``path`` relative to the book's root when it lies inside it (as messages name a section)."""
    return path.relative_to(ROOT) if path.is_relative_to(ROOT) else path
