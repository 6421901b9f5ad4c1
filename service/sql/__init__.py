"""The SQL definitions the database runs and the service relies on, one named file each.

The migrations install them (``load``) and the service calls them by name, so a rule written
here is written once: ``sectors.sql`` (which area of responsibility holds a geometry) and
``audit.sql`` (the audit rows a write leaves, for the statement triggers and for the service
when a table has none, as under Citus). A file changed later is installed by a new migration
that loads it again (``CREATE OR REPLACE``): the migrations before it keep what they installed.
"""

from __future__ import annotations

from importlib.resources import files


def read(name: str) -> str:
    """The text of ``<name>.sql``."""
    return files(__package__).joinpath(f"{name}.sql").read_text(encoding="utf-8")


def statements(script: str) -> list[str]:
    """``script`` split on semicolons outside dollar-quoted bodies (a driver such as asyncpg
    runs one statement at a time)."""
    parts, current, quoted = [], [], False
    for line in script.splitlines():
        current.append(line)
        quoted ^= line.count("$$") % 2 == 1
        if not quoted and line.rstrip().endswith(";"):
            parts.append("\n".join(current).strip())
            current = []
    return [part for part in parts if part and not _comment_only(part)]


def _comment_only(part: str) -> bool:
    return all(not line.strip() or line.lstrip().startswith("--") for line in part.splitlines())
