"""Every refusal leaves the AI service as `{"error": code, "message": sentence, ...details}`.

The error type and body are servicekit's, the same as Central's. Details follow where they apply:
`frame` (the index of the frame at fault), `limit` (the setting or rule the request passed), and
what a route adds (a photo batch says which photos were added).
"""

from __future__ import annotations

from typing import Any

from servicekit.errors import ApiError, error_response
from servicekit.errors import exception_handlers as servicekit_handlers

__all__ = ["ApiError", "error_response", "exception_handlers"]

exception_handlers: dict[Any, Any] = servicekit_handlers("the AI service failed on this request")
