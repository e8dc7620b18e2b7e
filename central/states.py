"""The words Central stores and answers with: statuses, decisions and reasons.

StrEnums, so each member is the string stored in the database and sent in JSON.
"""

from __future__ import annotations

from enum import StrEnum


class SessionStatus(StrEnum):
    """OPEN → INFERRING → PAYABLE | IN_REVIEW → CHECKED_OUT (a rescan goes back to INFERRING)."""

    OPEN = "OPEN"
    INFERRING = "INFERRING"
    PAYABLE = "PAYABLE"
    IN_REVIEW = "IN_REVIEW"
    CHECKED_OUT = "CHECKED_OUT"


# A session in one of these may be (re)scanned.
INFERABLE = (SessionStatus.OPEN, SessionStatus.IN_REVIEW, SessionStatus.PAYABLE)


class Decision(StrEnum):
    """The AI's verdict on a tray; UNKNOWN also when there was no usable answer."""

    AUTO = "AUTO"
    REVIEW = "REVIEW"
    UNKNOWN = "UNKNOWN"


class AIStatus(StrEnum):
    """How the call to the AI went."""

    OK = "OK"
    UNREACHABLE = "UNREACHABLE"
    TIMEOUT = "TIMEOUT"
    HTTP_5XX = "HTTP_5XX"
    HTTP_4XX = "HTTP_4XX"
    INVALID_RESPONSE = "INVALID_RESPONSE"
    # The instance asking the AI vanished (crash, restart) before it stored any answer.
    ABANDONED = "ABANDONED"


class ReviewStatus(StrEnum):
    OPEN = "OPEN"
    RESOLVED = "RESOLVED"
    SUPERSEDED = "SUPERSEDED"  # a newer scan of the tray replaced it


class ReviewReason(StrEnum):
    """Why staff must look at the tray."""

    REVIEW = "REVIEW"  # the AI was unsure
    UNKNOWN = "UNKNOWN"  # the AI saw something it does not know
    AI_UNAVAILABLE = "AI_UNAVAILABLE"  # no usable answer (down, slow, nonsense, abandoned)


class BillSource(StrEnum):
    AUTO = "AUTO"
    REVIEW = "REVIEW"


class PaymentStatus(StrEnum):
    PAID = "PAID"
    PENDING = "PENDING"
    FAILED = "FAILED"


# A bill in one of these may be paid again (a new attempt on the same bill).
RETRYABLE = (PaymentStatus.PENDING, PaymentStatus.FAILED)
# A voided bill is closed for good; it is never a payment status a counter reports.
VOIDED = "VOIDED"


class AttemptKind(StrEnum):
    RETRY = "RETRY"
    VOID = "VOID"
