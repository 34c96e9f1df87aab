"""Every JSON column stores a value the same way whichever path writes it: the ORM's JSON type, or
the plain SQL of :mod:`takedown.sql_writes` (the terminal's commands, intake, a round's writes). A
query that tells JSON ``null`` from SQL NULL, or compares stored text, sees no difference."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import JSON, Column, Integer, MetaData, Table, insert

from takedown.models import Base, JSONType
from takedown.sql_reads import stored_json
from takedown.sql_writes import insert_rows, writing
from takedown.store import Store

VALUES: list[Any] = [
    None,
    {},
    [],
    "text",
    0,
    2.5,
    True,
    {"reason": 'é\u2028"quoted" <b>', "until": None, "list": [1, None, ["nested"]]},
]


def test_every_json_column_has_the_stores_json_type() -> None:
    """So that what is held below for that type holds for each column (a column declared with a
    JSON type of its own, ``none_as_null`` say, would store its ``None`` as SQL NULL)."""
    columns = [
        (table.name, column.name, column.type)
        for table in Base.metadata.sorted_tables
        for column in table.columns
        if isinstance(column.type, JSON) or isinstance(getattr(column.type, "impl", None), JSON)
    ]
    assert len(columns) >= 15
    odd = [(table, name) for table, name, kind in columns if kind is not JSONType]
    assert odd == []


@pytest.mark.parametrize("value", VALUES, ids=repr)
def test_a_json_value_is_stored_alike_by_the_orm_and_by_plain_sql(store: Store, value: Any) -> None:
    probe = Table("json_probe", MetaData(), Column("id", Integer, primary_key=True), Column("doc", JSONType))
    probe.create(store.engine)
    try:
        with store.session() as session:
            session.execute(insert(probe).values(id=1, doc=value))
            with writing(session) as writes:
                insert_rows(writes, "json_probe", [{"id": 2, "doc": value}], json_columns=("doc",))
        postgres = store.engine.dialect.name == "postgresql"
        shown = "doc::text, doc IS NULL" if postgres else "doc, typeof(doc), doc IS NULL"
        with store.reading() as session, writing(session) as reads:
            orm, plain = list(reads.stream(f"SELECT {shown} FROM json_probe ORDER BY id"))
            assert tuple(orm) == tuple(plain)
            assert not orm[-1]  # JSON null, never SQL NULL: both read back as None
            assert stored_json(plain[0]) == value
    finally:
        probe.drop(store.engine)
