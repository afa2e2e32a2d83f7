"""Launch a multi-process PyTorch script with ``torchrun`` from a notebook (lectures 34 and 35).

``torchrun`` starts ``nproc`` copies of a script, each with ``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``
and a rendezvous address in its environment.  From a notebook we run it as a subprocess (not
``mp.spawn``, which cannot pickle functions defined in a notebook), capture its output and
return what the processes printed.
"""
from __future__ import annotations

import os
import subprocess
import sys
from typing import Optional, Sequence

from . import checks


def torchrun_command(script: str, nproc: int, args: Sequence[str] = ()) -> list[str]:
    """The command line: ``python -m torch.distributed.run --standalone --nproc_per_node=N script args``."""
    checks.positive_int("nproc", nproc)
    if nproc < 1:
        raise ValueError(f"nproc 必须至少为 1 (must be >= 1), got {nproc}")
    return [sys.executable, "-m", "torch.distributed.run", "--standalone",
            f"--nproc_per_node={nproc}", str(script), *map(str, args)]


def torchrun_env(threads_per_proc: int = 1, extra: Optional[dict] = None) -> dict:
    """The child's environment: ours plus ``OMP_NUM_THREADS`` (so torchrun prints no warning about it)."""
    checks.positive_int("threads_per_proc", threads_per_proc)
    env = dict(os.environ)
    env["OMP_NUM_THREADS"] = str(threads_per_proc)
    env.setdefault("PYTHONUNBUFFERED", "1")
    env.update(extra or {})
    return env


def run_torchrun(script: str, nproc: int, args: Sequence[str] = (), *, timeout: float = 600,
                 threads_per_proc: int = 1, cwd: Optional[str] = None) -> str:
    """Run ``script`` in ``nproc`` processes with torchrun; return their standard output.

    Raises ``RuntimeError`` with the end of the captured standard error when the launch fails,
    so that a notebook shows the cause instead of torchrun's long log.
    """
    checks.positive_int("nproc", nproc)
    checks.positive_number("timeout", timeout)
    checks.positive_int("threads_per_proc", threads_per_proc)
    result = subprocess.run(torchrun_command(script, nproc, args), capture_output=True, text=True,
                            env=torchrun_env(threads_per_proc), cwd=cwd, timeout=timeout)
    if result.returncode != 0:
        tail = "\n".join(result.stderr.strip().splitlines()[-20:])
        raise RuntimeError(f"torchrun 失败 (failed), 返回码 {result.returncode}:\n{tail}")
    return result.stdout
