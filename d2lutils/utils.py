"""Timer and Accumulator, as in d2l."""
from __future__ import annotations

import time

import numpy as np


class Timer:
    """Record several running times."""

    def __init__(self) -> None:
        self.times: list[float] = []
        self.start()

    def start(self) -> None:
        self.tik = time.perf_counter()

    def stop(self) -> float:
        """Stop the timer, record the time and return it (seconds)."""
        self.times.append(time.perf_counter() - self.tik)
        return self.times[-1]

    def avg(self) -> float:
        return sum(self.times) / len(self.times) if self.times else 0.0

    def sum(self) -> float:
        return sum(self.times)

    def cumsum(self) -> list[float]:
        return np.array(self.times).cumsum().tolist()


class Accumulator:
    """Sum ``n`` running quantities (e.g. loss sum, correct count, example count)."""

    def __init__(self, n: int) -> None:
        self.data = [0.0] * n

    def add(self, *args) -> None:
        if len(args) != len(self.data):
            raise ValueError(f"Accumulator expects {len(self.data)} values, got {len(args)}")
        self.data = [a + float(b) for a, b in zip(self.data, args)]

    def reset(self) -> None:
        self.data = [0.0] * len(self.data)

    def __getitem__(self, idx: int) -> float:
        return self.data[idx]

    def __len__(self) -> int:
        return len(self.data)


def glue(name: str, value, display: bool = False):
    """Record ``value`` under ``name`` so that the prose can quote it: ``{glue:text}`name:.3f```.

    Uses myst-nb's ``glue`` when it is installed (the book's build); elsewhere (Colab, a plain
    Jupyter) it does nothing visible.  Returns ``value`` so it can be used inline.
    """
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):
        try:  # numpy/torch scalars: glue the plain Python number, so that {glue:text} can format it
            value = value.item()
        except (ValueError, RuntimeError, TypeError):
            pass
    try:
        from myst_nb import glue as _glue
    except ImportError:  # pragma: no cover - only outside the book's environment
        return value
    _glue(name, value, display=display)
    return value
