"""The shape of a `POST /v1/infer` answer (docs/ai-contract.md), checked with the stdlib only.

Both sides use it: the service checks its own answer before sending it (a pipeline bug becomes a
500, never a payable tray), and `central.ai_client` checks what arrives before Central trusts it.
"""

from __future__ import annotations

import math
from collections.abc import Collection
from typing import Any, TypeGuard

from contract.limits import MAX_ITEM_COUNT

DECISIONS = ("AUTO", "REVIEW", "UNKNOWN")


class ContractViolation(ValueError):
    """The answer does not have the contract's shape; `problems` says every way it does not."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("; ".join(problems))


def check_infer_answer(answer: Any, candidate_skus: Collection[str], frame_count: int) -> None:
    """Raise ContractViolation unless `answer` is a valid infer answer for this request."""
    problems: list[str] = []
    if not isinstance(answer, dict):
        raise ContractViolation([f"the answer is a {type(answer).__name__}, not a JSON object"])
    decision = answer.get("decision")
    if decision not in DECISIONS:
        problems.append(f"decision is {decision!r}, not one of {', '.join(DECISIONS)}")
    for key in ("reason", "model_version", "device"):
        if not isinstance(answer.get(key), str):
            problems.append(f"{key} must be a string")
    timings = answer.get("timings_ms")
    if not isinstance(timings, dict) or not all(
        isinstance(name, str) and _is_number(value) for name, value in timings.items()
    ):
        problems.append("timings_ms must map stage names to milliseconds")
    items = answer.get("items")
    if not isinstance(items, list):
        problems.append("items must be a list")
        items = []
    if decision == "AUTO" and not items:
        problems.append("an AUTO answer must list the items to bill; an empty tray is for staff")
    candidates = set(candidate_skus)
    for number, item in enumerate(items):
        problems.extend(
            f"items[{number}]: {problem}"
            for problem in _item_problems(item, decision, candidates, frame_count)
        )
    if problems:
        raise ContractViolation(problems)


def _item_problems(item: Any, decision: Any, candidates: set[str], frame_count: int) -> list[str]:
    if not isinstance(item, dict):
        return ["must be an object"]
    problems = []
    sku = item.get("sku")
    if sku is None:
        if decision == "AUTO":
            problems.append("an unmatched item (sku null) cannot be paid automatically (AUTO)")
    elif sku not in candidates:
        problems.append(f"sku {sku!r} is not among the candidate SKUs")
    count = item.get("count")
    if not isinstance(count, int) or isinstance(count, bool) or not 1 <= count <= MAX_ITEM_COUNT:
        problems.append(f"count must be a whole number from 1 to {MAX_ITEM_COUNT}, got {count!r}")
    confidence = item.get("confidence")
    if not (_is_number(confidence) and 0 <= confidence <= 1):
        problems.append(f"confidence must be a number in [0, 1], got {confidence!r}")
    ranked = item.get("candidates")
    if not isinstance(ranked, list):
        problems.append("candidates must be a list")
        ranked = []
    for candidate in ranked:
        if not isinstance(candidate, dict) or candidate.get("sku") not in candidates:
            problems.append(f"candidate {candidate!r} is not one of the candidate SKUs")
        elif not _is_number(candidate.get("score")):
            problems.append(f"candidate {candidate['sku']!r} has no numeric score")
    boxes = item.get("boxes")
    if not isinstance(boxes, list):
        problems.append("boxes must be a list")
        boxes = []
    for box in boxes:
        if not _is_box(box, frame_count):
            problems.append(f"box {box!r} is not {{frame: 0..{frame_count - 1}, box: [4 numbers]}}")
    return problems


def _is_box(box: Any, frame_count: int) -> bool:
    if not isinstance(box, dict):
        return False
    frame, corners = box.get("frame"), box.get("box")
    return (
        isinstance(frame, int)
        and not isinstance(frame, bool)
        and 0 <= frame < frame_count
        and isinstance(corners, list)
        and len(corners) == 4
        and all(_is_number(value) for value in corners)
    )


def _is_number(value: Any) -> TypeGuard[int | float]:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
