"""Argument checks with one bilingual message format: 中文说明（English）."""
from __future__ import annotations

import math
import numbers
from typing import Optional


def bilingual(zh: str, en: str) -> str:
    """Format an error message the same way everywhere: ``中文说明（English）``."""
    return f"{zh}（{en}）"


class ArgumentError(ValueError):
    """A helper was called with a bad argument; the message names it, shows the value and says what to do."""


def _fail(zh: str, en: str):
    raise ArgumentError(bilingual(zh, en))


def _is_int(value) -> bool:
    return not isinstance(value, bool) and isinstance(value, numbers.Integral)


def _is_real(value) -> bool:
    return not isinstance(value, bool) and isinstance(value, numbers.Real)


def positive_int(name: str, value, *, allow_none: bool = False) -> Optional[int]:
    """``value`` as an int >= 1 (``None`` passes when ``allow_none``); a clear error otherwise."""
    if value is None and allow_none:
        return None
    if not _is_int(value) or value < 1:
        _fail(f"{name} 必须是正整数，收到的是 {value!r}", f"{name} must be a positive integer, got {value!r}")
    return int(value)


def int_at_least(name: str, value, minimum: int, *, allow_none: bool = False) -> Optional[int]:
    """``value`` as an int >= ``minimum`` (e.g. 0 for a seed or a block index)."""
    if value is None and allow_none:
        return None
    if not _is_int(value) or value < minimum:
        _fail(f"{name} 必须是不小于 {minimum} 的整数，收到的是 {value!r}",
              f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def positive_number(name: str, value, *, allow_none: bool = False) -> Optional[float]:
    """A finite real number > 0 (a learning rate, a clipping norm, a timeout, a line width)."""
    if value is None and allow_none:
        return None
    if not _is_real(value) or not math.isfinite(value) or value <= 0:
        _fail(f"{name} 必须是有限的正数，收到的是 {value!r}", f"{name} must be a finite positive number, got {value!r}")
    return float(value)


def number_in_range(name: str, value, low: float, high: float, *, high_open: bool = False,
                    allow_none: bool = False) -> Optional[float]:
    """A finite real number in ``[low, high]`` (``[low, high)`` when ``high_open``): thresholds, ratios."""
    if value is None and allow_none:
        return None
    right = ")" if high_open else "]"
    if (not _is_real(value) or not math.isfinite(value) or value < low
            or (value >= high if high_open else value > high)):
        _fail(f"{name} 必须是区间 [{low:g}, {high:g}{right} 内的数，收到的是 {value!r}",
              f"{name} must be a number in [{low:g}, {high:g}{right}, got {value!r}")
    return float(value)


def dropout(name: str, value) -> float:
    """A dropout probability in [0, 1)."""
    return number_in_range(name, value, 0.0, 1.0, high_open=True)


def non_empty(name: str, value, *, allow_none: bool = False):
    """A sequence (list, tuple, str, …) with at least one item; returned unchanged."""
    if value is None and allow_none:
        return None
    try:
        size = len(value)
    except TypeError:
        return value  # an iterator: its length is unknown before it is used
    if size == 0:
        _fail(f"{name} 不能为空，收到的是 {value!r}", f"{name} must not be empty, got {value!r}")
    return value


def positive_ints(name: str, values, length: Optional[int] = None) -> tuple[int, ...]:
    """A non-empty sequence of positive ints (e.g. ``crop_size=(320, 480)``), of ``length`` items if given."""
    if isinstance(values, (str, bytes)) or not hasattr(values, "__len__") or len(values) == 0 or (
            length is not None and len(values) != length):
        what = f"{length} 个" if length else "若干"
        _fail(f"{name} 必须是{what}正整数组成的序列，收到的是 {values!r}",
              f"{name} must be a sequence of {length or 'one or more'} positive integers, got {values!r}")
    return tuple(positive_int(f"{name}[{i}]", v) for i, v in enumerate(values))


def finite_numbers(name: str, values, length: Optional[int] = None, *, positive: bool = False
                   ) -> tuple[float, ...]:
    """A non-empty sequence of finite numbers (> 0 when ``positive``), of ``length`` items if given."""
    if isinstance(values, (str, bytes)) or not hasattr(values, "__len__") or len(values) == 0 or (
            length is not None and len(values) != length):
        _fail(f"{name} 必须是{length or '若干'}个数组成的序列，收到的是 {values!r}",
              f"{name} must be a sequence of {length or 'one or more'} numbers, got {values!r}")
    check = positive_number if positive else finite_number
    return tuple(check(f"{name}[{i}]", v) for i, v in enumerate(values))


def count_or_all(name: str, value) -> int:
    """A positive int, or -1 meaning "all of them" (d2l's ``max_tokens=-1``)."""
    if _is_int(value) and value == -1:
        return -1
    if not _is_int(value) or value < 1:
        _fail(f"{name} 必须是正整数，或者 -1（表示全部），收到的是 {value!r}",
              f"{name} must be a positive integer, or -1 for all, got {value!r}")
    return int(value)


def not_nan(name: str, value) -> float:
    """A real number that is not NaN (±inf allowed, e.g. a fill value for masked entries)."""
    if not _is_real(value) or math.isnan(value):
        _fail(f"{name} 必须是实数（不能是 nan），收到的是 {value!r}", f"{name} must be a real number, not nan, got {value!r}")
    return float(value)


def shape(name: str, value) -> tuple[int, ...]:
    """A positive int or a non-empty sequence of positive ints (e.g. LayerNorm's ``normalized_shape``)."""
    if _is_int(value):
        return (positive_int(name, value),)
    return positive_ints(name, value)


def one_of(name: str, value, choices) -> object:
    """``value`` must be one of ``choices``."""
    if value not in choices:
        _fail(f"{name} 只能是 {', '.join(map(repr, choices))} 之一，收到的是 {value!r}",
              f"{name} must be one of {', '.join(map(repr, choices))}, got {value!r}")
    return value


def device(name: str, value, *, allow_none: bool = False):
    """A device that exists on this machine (``"cpu"``, ``"cuda:0"`` when that GPU is there, …)."""
    import torch
    if value is None and allow_none:
        return None
    hint_zh, hint_en = "请用 d2l.try_gpu() 或 \"cpu\"", "use d2l.try_gpu() or \"cpu\""
    try:
        if isinstance(value, bool) or not isinstance(value, (torch.device, str, numbers.Integral)):
            raise TypeError
        dev = torch.device(value)
    except (RuntimeError, TypeError, ValueError):
        _fail(f"{name} 不是一个设备：{value!r}；{hint_zh}", f"{name} is not a device: {value!r}; {hint_en}")
    if dev.type == "cpu":
        return dev
    if dev.type == "cuda":
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if (dev.index or 0) < count:
            return dev
        _fail(f"{name}={value!r}：这台机器上没有这块 GPU（可用 GPU {count} 块）；{hint_zh}",
              f"{name}={value!r}: no such GPU on this machine ({count} available); {hint_en}")
    if dev.type == "mps" and torch.backends.mps.is_available():
        return dev
    _fail(f"{name}={value!r}：这台机器上没有这种设备；{hint_zh}",
          f"{name}={value!r}: this machine has no such device; {hint_en}")


def devices(name: str, value, *, allow_none: bool = False):
    """One device or a non-empty list of devices, each of them real (see ``device``)."""
    if value is None and allow_none:
        return None
    if isinstance(value, (list, tuple)):
        non_empty(name, value)
        return [device(f"{name}[{i}]", d) for i, d in enumerate(value)]
    return device(name, value)


def image_size(value) -> Optional[tuple[int, int]]:
    """``resize``: None, a positive int, or a pair of positive ints."""
    if value is None:
        return None
    if isinstance(value, (tuple, list)) and len(value) == 2:
        return positive_int("resize[0]", value[0]), positive_int("resize[1]", value[1])
    return (positive_int("resize", value),) * 2


def finite_number(name: str, value) -> float:
    """A finite real number (e.g. a learning rate)."""
    if not _is_real(value) or not math.isfinite(value):
        _fail(f"{name} 必须是有限的实数，收到的是 {value!r}", f"{name} must be a finite number, got {value!r}")
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
