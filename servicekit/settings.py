"""Reading settings from the environment the same way in every service, every problem at once.

Each service keeps its own `Settings` dataclass and fills it through one `Env`: every read that
fails is recorded instead of raised, and `Env.check()` raises one `SettingsError` whose message is
a single line naming every problem (`settings: AI_MAX_FRAMES must be an integer 1..16 (got 'x');
AI_ADMIN_KEY is required`), so an operator fixes the env file once. Plain values (numbers, flags,
choices) are quoted back to help; secrets, URLs and anything a service parses itself are not (a
URL may carry a password).

One vocabulary on both sides of the wire: a flag is 1/0, true/false, yes/no or on/off in any case;
a secret loses surrounding whitespace (an env file's trailing space is not part of a key); a
variable set to nothing counts as unset.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TypeVar

from starlette.datastructures import Secret

T = TypeVar("T")

FLAG_TRUE = frozenset({"1", "true", "yes", "on"})
FLAG_FALSE = frozenset({"0", "false", "no", "off"})
FLAG_SPELLINGS = "1/0, true/false, yes/no or on/off"

_ECHO_CHARS = 40


class SettingsError(Exception):
    """Missing or invalid environment variables; `str()` is one line naming each of them."""

    def __init__(self, problems: Sequence[str]) -> None:
        self.problems = list(problems)
        super().__init__("settings: " + "; ".join(self.problems))


def _echo(raw: str) -> str:
    """The value as the operator typed it, quoted (so a newline cannot break the line), short."""
    shown = raw if len(raw) <= _ECHO_CHARS else raw[:_ECHO_CHARS] + "..."
    return f"(got {shown!r})"


def _num(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def _bounds(low: float | None, high: float | None, above: float | None = None) -> str:
    if above is not None:
        return f"> {_num(above)}" + ("" if high is None else f" and <= {_num(high)}")
    if low is not None and high is not None:
        return f"{_num(low)}..{_num(high)}"
    if low is not None:
        return f">= {_num(low)}"
    if high is not None:
        return f"<= {_num(high)}"
    return ""


class Env:
    """Typed reads of environment variables that collect problems instead of stopping at one."""

    def __init__(self, environ: Mapping[str, str]) -> None:
        self._environ = environ
        self.problems: list[str] = []

    def problem(self, message: str) -> None:
        """Record a problem found across variables (e.g. two keys that must differ)."""
        self.problems.append(" ".join(message.splitlines()))

    def check(self) -> None:
        """Raise SettingsError naming every problem recorded so far, if any."""
        if self.problems:
            raise SettingsError(self.problems)

    def raw(self, name: str) -> str | None:
        """The variable's text, or None when it is unset or set to nothing but whitespace."""
        value = self._environ.get(name)
        if value is None or not value.strip():
            return None
        return value

    def _required(self, name: str) -> None:
        self.problems.append(f"{name} is required")

    def _invalid(self, name: str, kind: str, bounds: str, raw: str) -> None:
        self.problems.append(
            " ".join(p for p in (f"{name} must be {kind}", bounds, _echo(raw)) if p)
        )

    def integer(
        self, name: str, default: int | None, *, low: int | None = None, high: int | None = None
    ) -> int:
        raw = self.raw(name)
        if raw is None:
            if default is None:
                self._required(name)
            return default  # type: ignore[return-value]  # None only when check() will raise
        try:
            value = int(raw.strip())
        except ValueError:
            value = None
        if (
            value is None
            or (low is not None and value < low)
            or (high is not None and value > high)
        ):
            self._invalid(name, "an integer", _bounds(low, high), raw)
            return default  # type: ignore[return-value]
        return value

    def number(
        self,
        name: str,
        default: float | None,
        *,
        above: float | None = None,
        low: float | None = None,
        high: float | None = None,
    ) -> float:
        raw = self.raw(name)
        if raw is None:
            if default is None:
                self._required(name)
            return default  # type: ignore[return-value]
        try:
            value: float | None = float(raw.strip())
        except ValueError:
            value = None
        if (
            value is None
            or value != value  # NaN passes no bound
            or value in (float("inf"), float("-inf"))
            or (above is not None and value <= above)
            or (low is not None and value < low)
            or (high is not None and value > high)
        ):
            self._invalid(name, "a number", _bounds(low, high, above), raw)
            return default  # type: ignore[return-value]
        return value

    def flag(self, name: str, default: bool) -> bool:
        raw = self.raw(name)
        if raw is None:
            return default
        word = raw.strip().lower()
        if word in FLAG_TRUE:
            return True
        if word in FLAG_FALSE:
            return False
        self.problem(f"{name} must be a flag: {FLAG_SPELLINGS} {_echo(raw)}")
        return default

    def choice(self, name: str, default: str, choices: Sequence[str]) -> str:
        """One of `choices`, compared case-insensitively, returned as the choice is spelled."""
        raw = self.raw(name)
        if raw is None:
            return default
        by_word = {choice.lower(): choice for choice in choices}
        word = raw.strip().lower()
        if word not in by_word:
            self.problem(f"{name} must be one of {', '.join(choices)} {_echo(raw)}")
            return default
        return by_word[word]

    def text(self, name: str, default: str) -> str:
        """Free text (a host name, a project id), stripped; the default when unset."""
        raw = self.raw(name)
        return default if raw is None else raw.strip()

    def path(self, name: str, default: str) -> str:
        """A file or folder (or a gs:// URL where the service reads one), stripped."""
        return self.text(name, default)

    def secret(self, name: str, *, min_length: int = 1) -> Secret:
        """A required key, stripped of surrounding whitespace; never quoted in a message."""
        value = self.optional_secret(name, min_length=min_length)
        if value is None and self.raw(name) is None:
            self._required(name)
        return value  # type: ignore[return-value]  # None only when check() will raise

    def optional_secret(self, name: str, *, min_length: int = 1) -> Secret | None:
        """A key that may be unset (None); stripped, checked and never quoted like `secret`."""
        raw = self.raw(name)
        if raw is None:
            return None
        value = raw.strip()
        if len(value) < min_length:
            self.problem(f"{name} must be at least {min_length} characters")
            return None
        return Secret(value)

    def url(self, name: str, default: str, *, schemes: Sequence[str] = ("http", "https")) -> str:
        """An absolute URL with one of `schemes`, without a trailing slash; never echoed."""
        raw = self.raw(name)
        value = (default if raw is None else raw).strip().rstrip("/")
        scheme, sep, rest = value.partition("://")
        if not sep or scheme.lower() not in schemes or not rest or " " in value:
            spelled = " or ".join(f"{s}://" for s in schemes)
            self.problem(f"{name} must be an {spelled} URL")
            return default
        return value

    def parsed(self, name: str, default: str, parse: Callable[[str], T]) -> T:
        """The variable through a service's own parser; its ValueError's words, never the value."""
        raw = self.raw(name)
        try:
            return parse((default if raw is None else raw).strip())
        except ValueError as error:
            reason = " ".join(str(error).split())
            self.problem(
                f"{name} {reason}" if reason.startswith("must ") else f"{name} is invalid: {reason}"
            )
            return None  # type: ignore[return-value]


@dataclass(frozen=True)
class HttpLimits:
    """What one service accepts at the HTTP layer; the same five settings in both services."""

    max_body_bytes: int
    upload_read_timeout_s: float
    upload_deadline_s: float
    max_concurrent_uploads: int
    max_header_bytes: int


# Browsers and proxies send a few KiB; Cloud Run's front end refuses above 64 KiB anyway.
DEFAULT_MAX_HEADER_BYTES = 64 * 1024
DEFAULT_UPLOAD_READ_TIMEOUT_S = 10.0
DEFAULT_UPLOAD_DEADLINE_S = 60.0


def read_http_limits(
    env: Env, prefix: str, *, max_body_bytes: int, max_concurrent_uploads: int
) -> HttpLimits:
    """`{prefix}MAX_BODY_BYTES`, `…UPLOAD_READ_TIMEOUT_SECONDS`, `…UPLOAD_DEADLINE_SECONDS`,
    `…MAX_CONCURRENT_UPLOADS` and `…MAX_HEADER_BYTES`, with the service's defaults for the first
    and the last but one."""
    return HttpLimits(
        max_body_bytes=env.integer(f"{prefix}MAX_BODY_BYTES", max_body_bytes, low=1),
        upload_read_timeout_s=env.number(
            f"{prefix}UPLOAD_READ_TIMEOUT_SECONDS", DEFAULT_UPLOAD_READ_TIMEOUT_S, above=0
        ),
        upload_deadline_s=env.number(
            f"{prefix}UPLOAD_DEADLINE_SECONDS", DEFAULT_UPLOAD_DEADLINE_S, above=0
        ),
        max_concurrent_uploads=env.integer(
            f"{prefix}MAX_CONCURRENT_UPLOADS", max_concurrent_uploads, low=1
        ),
        max_header_bytes=env.integer(
            f"{prefix}MAX_HEADER_BYTES", DEFAULT_MAX_HEADER_BYTES, low=1024, high=1024 * 1024
        ),
    )
