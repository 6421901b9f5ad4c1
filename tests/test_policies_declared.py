"""Every collection the registry lists has its policy in the one table the read gate reads
(``service.access.policy.DEFAULT_POLICIES``), and every policy names a listed collection: a
collection added without deciding who sees what cannot be served (docs/developers.md)."""

from __future__ import annotations

from service.access.policy import CHILD_TABLES, DEFAULT_POLICIES
from service.collections.registry import COLLECTIONS


def test_each_listed_collection_has_one_policy_and_each_policy_a_collection() -> None:
    tables = {collection.table.name for collection in COLLECTIONS.values()}
    assert tables == set(DEFAULT_POLICIES)


def test_each_child_table_belongs_to_a_listed_collection() -> None:
    tables = {collection.table.name for collection in COLLECTIONS.values()}
    for name, child in CHILD_TABLES.items():
        assert child.parent in tables, name
