"""Pick the torch device once at start-up; only the real pipeline calls this, never the mock.

On the GPU VM the stack sets AI_DEVICE=cuda, so a torch build whose CUDA is newer than the NVIDIA
driver (torch then sees no GPU) stops the service with one line naming both, instead of serving
from the CPU of a paid T4. `auto` still falls back to the CPU, with a warning when torch is a CUDA
build, because a CUDA build that sees no GPU is almost always a driver mismatch.
"""

from __future__ import annotations

import logging
import subprocess
from pathlib import Path

log = logging.getLogger(__name__)


class DeviceError(RuntimeError):
    pass


def select_device(preference: str) -> str:
    """Auto → "cuda:0" when CUDA is visible, else "cpu"; an explicit CUDA device must exist."""
    import torch  # here, not at the top: importing this module must not load torch

    if preference == "cpu":
        return "cpu"
    visible = torch.cuda.is_available()
    if preference == "auto":
        if not visible and torch.version.cuda:
            log.warning("serving on the CPU: %s", describe())
        return "cuda:0" if visible else "cpu"
    index = int(preference.partition(":")[2] or 0)
    if not visible or index >= torch.cuda.device_count():
        raise DeviceError(f"AI_DEVICE={preference} but {describe()}")
    return f"cuda:{index}"


def describe() -> str:
    """What torch sees, its CUDA build and the NVIDIA driver, in one line."""
    import torch

    count = torch.cuda.device_count() if torch.cuda.is_available() else 0
    return (
        f"torch {torch.__version__} (built for CUDA {torch.version.cuda or 'none: a CPU build'}) "
        f"sees {count} CUDA device(s); NVIDIA driver: {nvidia_driver() or 'none found'}"
    )


def nvidia_driver() -> str | None:
    """The loaded NVIDIA driver's version (e.g. "570.172.08"), or None where there is none."""
    try:
        for word in Path("/proc/driver/nvidia/version").read_text().split():
            if word.count(".") >= 1 and word.replace(".", "").isdigit():
                return word
    except OSError:
        pass
    try:
        result = subprocess.run(
            ["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"],  # noqa: S607
            capture_output=True,
            text=True,
            timeout=20,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    lines = result.stdout.strip().splitlines()
    return lines[0] if result.returncode == 0 and lines else None
