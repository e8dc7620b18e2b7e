"""What crosses between Central and the AI: the answer's shape, its checks, the shared limits.

Standard library only, and a leaf: it imports nothing else from this repository, so both services
(and Central's torch-free image) can depend on it without depending on each other.
"""

from contract.answer import DECISIONS, ContractViolation, check_infer_answer
from contract.limits import (
    COUNTER_ID_PATTERN,
    DEFAULT_STORE,
    MAX_FRAME_PIXELS,
    MAX_FRAMES,
    MAX_ITEM_COUNT,
    MAX_PHOTOS,
    PHOTO_ID_PATTERN,
    STORE_ID_PATTERN,
)

__all__ = [
    "COUNTER_ID_PATTERN",
    "DECISIONS",
    "DEFAULT_STORE",
    "MAX_FRAME_PIXELS",
    "MAX_FRAMES",
    "MAX_ITEM_COUNT",
    "MAX_PHOTOS",
    "PHOTO_ID_PATTERN",
    "STORE_ID_PATTERN",
    "ContractViolation",
    "check_infer_answer",
]
