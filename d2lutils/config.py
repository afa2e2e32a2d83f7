"""Run profiles (quick / full) and the per-section ``setup()``."""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any, Optional

import torch

from . import facts
from .cpu import choose_threads
from .device import seed_everything, try_gpu
from .plotting import check_figures_not_empty, use_chinese_font, use_png

PROFILES = ("quick", "full")
PROFILE_ENV = "D2L_PROFILE"


class ProfileError(ValueError):
    """An unknown profile name."""


def resolve_profile(name: Optional[str] = None) -> str:
    """Turn ``quick``/``full``/``auto`` (or ``$D2L_PROFILE`` when ``name`` is None) into quick or full.

    ``auto`` means ``full`` when CUDA is available and ``quick`` otherwise.
    """
    raw = name if name is not None else os.environ.get(PROFILE_ENV, "")
    key = str(raw).strip().lower() or "auto"   # an empty value means "unset", like the other variables
    if key == "auto":
        return "full" if torch.cuda.is_available() else "quick"
    if key not in PROFILES:
        raise ProfileError(
            f"未知的运行配置 profile={raw!r}：请使用 quick、full 或 auto"
            f"（设置环境变量 {PROFILE_ENV} 或笔记本的 profile 参数）。 "
            f"Unknown profile {raw!r}: use quick, full or auto "
            f"(via ${PROFILE_ENV} or the notebook's `profile` parameter).")
    return key


@dataclass(frozen=True)
class RunConfig:
    """What ``setup()`` decided: the profile, the device and the seed."""

    profile: str
    device: torch.device
    seed: int

    @property
    def full(self) -> bool:
        return self.profile == "full"

    def pick(self, *, quick: Any, full: Any) -> Any:
        """The value for this profile, e.g. ``num_epochs = cfg.pick(quick=2, full=10)``."""
        return full if self.full else quick


def _threads_from_env() -> int:
    """``$D2L_NUM_THREADS`` as a positive int; unset or empty means 0 (torch's default)."""
    raw = os.environ.get("D2L_NUM_THREADS", "").strip()
    if not raw:
        return 0
    if not raw.isdigit() or int(raw) < 1:
        raise ValueError(f"环境变量 D2L_NUM_THREADS={raw!r} 必须是正整数（CPU 线程数），或者不设置"
                         f"（D2L_NUM_THREADS must be a positive integer or unset, got {raw!r}）")
    return int(raw)


def setup(profile: Optional[str] = None, seed: int = 0, threads: Optional[int] = None) -> RunConfig:
    """Call once in every section's first code cell.

    Seeds everything, sets CPU threads (``threads``, else ``$D2L_NUM_THREADS``, else the cores that
    other processes leave free, see ``cpu.choose_threads``), configures matplotlib (Chinese font, PNG figures), and prints one line
    ``运行配置：profile=…, device=…, torch=…, threads=…`` (the same facts are recorded for the book's
    tools in ``facts``).
    """
    resolved = resolve_profile(profile)
    seed_everything(seed)
    threads = threads or _threads_from_env() or choose_threads()
    torch.set_num_threads(threads)
    use_chinese_font()
    use_png()
    check_figures_not_empty()
    device = try_gpu()
    facts.reset()
    facts.record_setup(profile=resolved, device=device, torch=torch.__version__, threads=threads)
    print(f"运行配置：profile={resolved}, device={device}, torch={torch.__version__}, threads={threads}")
    return RunConfig(resolved, device, seed)
