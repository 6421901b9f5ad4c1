"""Collecting the problems of a file without letting a million bad rows fill the memory."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from geo.formats.base import Problem, Severity

_VALUE_CHARS = 80


def shown(value: Any) -> str | None:
    """A value as a problem quotes it: text, shortened."""
    if value is None:
        return None
    text = value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)
    return text if len(text) <= _VALUE_CHARS else text[: _VALUE_CHARS - 1] + "…"


class ProblemLog:
    """Problems in file order, keeping the first ``limit`` and counting all of them.

    Examples
    --------
    >>> log = ProblemLog(limit=1)
    >>> log.add(Problem(3, "severity", "severity must be between 1 and 5"))
    >>> log.add(Problem(9, "severity", "severity must be between 1 and 5"))
    >>> log.errors, len(log.items)
    (2, 1)
    """

    def __init__(self, limit: int = 1000) -> None:
        self.limit = limit
        self.items: list[Problem] = []
        self.errors = 0
        self.warnings = 0
        self.by_field: Counter[str] = Counter()
        self.rows_with_errors: set[int] = set()
        self._unlisted_rows = 0

    def add(self, problem: Problem) -> None:
        if problem.severity == "error":
            self.errors += 1
            if problem.row is not None:
                self.rows_with_errors.add(problem.row)
        else:
            self.warnings += 1
        self.by_field[problem.field or "(file)"] += 1
        if len(self.items) < self.limit:
            self.items.append(problem)

    def add_rows(
        self,
        rows: np.ndarray[Any, Any],
        field: str | None,
        message: str | Callable[[Any], str],
        values: Sequence[Any] | None = None,
        severity: Severity = "error",
    ) -> None:
        """One problem per row number in ``rows``; ``message`` may be built from the value."""
        room = max(self.limit - len(self.items), 0)
        listed = rows[:room].tolist()
        for index, row in enumerate(listed):
            value = values[index] if values is not None else None
            text = message(value) if callable(message) else message
            self.add(Problem(int(row), field, text, severity, shown(value)))
        rest = rows[room:]
        if not len(rest):
            return
        # Beyond the listed ones only counts are kept: no object per row.
        self.by_field[field or "(file)"] += len(rest)
        if severity == "error":
            self.errors += len(rest)
            self.rows_with_errors.update(rest.tolist())
        else:
            self.warnings += len(rest)

    def count_more(self, field: str | None, count: int, severity: Severity = "error") -> None:
        """Problems beyond those listed, known only by their number."""
        self.by_field[field or "(file)"] += count
        if severity == "error":
            self.errors += count
            self._unlisted_rows += count
        else:
            self.warnings += count

    @property
    def total(self) -> int:
        return self.errors + self.warnings

    @property
    def rejected_rows(self) -> int:
        return len(self.rows_with_errors) + self._unlisted_rows

    def sorted_items(self) -> list[Problem]:
        return sorted(self.items, key=lambda p: (p.row is not None, p.row or 0))
