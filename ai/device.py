"""Pick the torch device once at start-up; only the real pipeline calls this, never the mock."""

from __future__ import annotations


class DeviceError(RuntimeError):
    pass


def select_device(preference: str) -> str:
    """Auto → "cuda:0" when CUDA is visible, else "cpu"; an explicit CUDA device must exist."""
    import torch  # here, not at the top: importing this module must not load torch

    if preference == "cpu":
        return "cpu"
    visible = torch.cuda.is_available()
    if preference == "auto":
        return "cuda:0" if visible else "cpu"
    index = int(preference.partition(":")[2] or 0)
    if not visible or index >= torch.cuda.device_count():
        raise DeviceError(
            f"AI_DEVICE={preference} but torch sees {torch.cuda.device_count()} CUDA device(s) "
            f"(torch {torch.__version__}, built for CUDA {torch.version.cuda})"
        )
    return f"cuda:{index}"
