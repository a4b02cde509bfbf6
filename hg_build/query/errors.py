"""The one error a query can raise: a sentence and the position (0-based) it points at."""

from __future__ import annotations


class QueryError(ValueError):
    """A syntax error, an unknown key or a value that does not fit its key."""

    def __init__(self, message: str, pos: int | None = None, query: str | None = None) -> None:
        self.pos = pos
        self.reason = message
        where = f" at position {pos + 1}" if pos is not None else ""
        text = f"{message}{where}"
        if query is not None and pos is not None:
            text += f"\n  {query}\n  {' ' * pos}^"
        super().__init__(text)
