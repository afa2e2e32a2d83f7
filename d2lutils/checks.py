"""Argument checks with one bilingual message format: 中文说明（English）."""
from __future__ import annotations

import math
import numbers
from typing import Optional


def bilingual(zh: str, en: str) -> str:
    """Format an error message the same way everywhere: ``中文说明（English）``."""
    return f"{zh}（{en}）"


def positive_int(name: str, value, *, allow_none: bool = False) -> Optional[int]:
    """``value`` as an int >= 1 (``None`` passes when ``allow_none``); a clear error otherwise."""
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise ValueError(bilingual(f"{name} 必须是正整数，收到的是 {value!r}",
                                   f"{name} must be a positive integer, got {value!r}"))
    return int(value)


def image_size(value) -> Optional[tuple[int, int]]:
    """``resize``: None, a positive int, or a pair of positive ints."""
    if value is None:
        return None
    if isinstance(value, (tuple, list)) and len(value) == 2:
        return positive_int("resize[0]", value[0]), positive_int("resize[1]", value[1])
    return (positive_int("resize", value),) * 2


def finite_number(name: str, value) -> float:
    """A finite real number (e.g. a learning rate)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value):
        raise ValueError(bilingual(f"{name} 必须是有限的实数，收到的是 {value!r}",
                                   f"{name} must be a finite number, got {value!r}"))
    return float(value)


class NonFiniteLossError(FloatingPointError):
    """Training produced a loss that is nan or inf."""


def check_loss(loss_value: float, epoch: int, what: str = "训练损失") -> None:
    """Stop a run whose loss is not finite, saying where and what to try."""
    if not math.isfinite(loss_value):
        raise NonFiniteLossError(bilingual(
            f"第 {epoch} 轮的{what}是 {loss_value}，训练已发散；请把学习率调小（例如除以 10），"
            "检查输入数据里有没有 nan/inf，或者换用更稳定的初始化",
            f"the loss in epoch {epoch} is {loss_value}: training diverged; try a smaller learning rate, "
            "check the data for nan/inf, or a more stable initialisation"))
