"""Whether to show progress bars: one policy for downloads and training loops."""
from __future__ import annotations

import os
import sys
from typing import Optional

FALSE_VALUES = ("", "0", "false", "no", "off")


def progress_enabled(progress: Optional[bool] = None) -> bool:
    """``progress`` if given; else ``$D2L_PROGRESS`` (0/false/no/off or empty = no bars);
    else bars only in a terminal outside CI (notebooks show an Animator instead)."""
    if progress is not None:
        return progress
    env = os.environ.get("D2L_PROGRESS")
    if env is not None:
        return env.strip().lower() not in FALSE_VALUES
    return sys.stderr.isatty() and not os.environ.get("CI")
