"""Path parameters that cannot overflow a database column, and 405 answers that say what is allowed.

`{name:id}` matches a positive decimal of at most 18 digits, so every id it lets through fits a
signed 64-bit column (2**63 - 1 has 19 digits). A longer number names no row: the route does not
match and the answer is 404, where Starlette's `{name:int}` would hand the database an integer it
cannot bind (SQLite raises OverflowError: a 500).
"""

from __future__ import annotations

from starlette.convertors import Convertor, register_url_convertor
from starlette.routing import BaseRoute, Match, Route
from starlette.types import Scope

MAX_ID_DIGITS = 18


class IdConvertor(Convertor[int]):
    """A database row id in a path: 1 to 18 decimal digits."""

    regex = f"[0-9]{{1,{MAX_ID_DIGITS}}}"

    def convert(self, value: str) -> int:
        return int(value)

    def to_string(self, value: int) -> str:
        if not 0 <= value < 10**MAX_ID_DIGITS:
            raise ValueError(f"an id must have at most {MAX_ID_DIGITS} digits")
        return str(value)


register_url_convertor("id", IdConvertor())


def allowed_methods(routes: list[BaseRoute], scope: Scope) -> list[str]:
    """Every method some route serves at this path, for the `Allow` header of a 405.

    Starlette's own 405 names only the methods of the first route that matched the path, so with
    one route per method (GET and PATCH on the same path) it would announce just one of them.
    """
    methods: set[str] = set()
    for route in routes:
        if isinstance(route, Route) and route.methods:
            match, _ = route.matches({**scope, "method": "\0"})
            if match is not Match.NONE:
                methods |= route.methods
    return sorted(methods)
