"""One owner per table: each table is written by one module, every other one calls it.

The layer contracts (``lint-imports``) say who may import whom; this says who may write what, by
reading the source: a new writer elsewhere fails here and names itself.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("takedown", "hosting", "crawler", "notices", "schedules", "faces", "sandbox")

OWNERS = {
    "case (its states and notice schedule)": (
        r"\b(update|insert|delete)\(Case\)|(UPDATE|DELETE FROM) \"case\"|update_row\(\w+, \"case\"",
        {"takedown/cases.py", "takedown/case_moves.py", "takedown/intake.py"},
    ),
    "new cases (intake counts them itself on SQLite, takedown.intake._count_new_cases)": (
        r"\binsert\(Case\)|insert_(?:rows|columns)(_with_ids)?\(\w+, CASE_TABLE"
        r"|INSERT INTO \"case\"|(?<!class )\bCase\(",
        {"takedown/intake.py"},
    ),
    "staff log": (
        r"\b(update|insert|delete)\(StaffEvent\)|(?<!class )\bStaffEvent\("
        r"|insert_(?:rows|columns)\(\w+, \"staff_event\"",
        {"takedown/staff_log.py"},
    ),
    "contact book": (
        r"\b(update|insert|delete)\(Contact\)|(?<!class )\bContact\("
        r"|UPDATE contact |DELETE FROM contact |(insert_(?:rows|columns)|update_row)\(\w+, \"contact\"",
        {"hosting/contact_writes.py"},
    ),
    "outbox (and, written once in plain SQL, settling its notices in doubt and their bounces)": (
        r"\b(update|insert|delete)\((Notice|NoticeCase)\)|UPDATE notice |INSERT INTO notice"
        r"|insert_(?:rows|columns)(_with_ids)?\(\s*\w+,\s*\"notice",
        {"notices/outbox.py", "notices/settling.py", "notices/bounces.py"},
    ),
    "resolution record": (
        r"\b(update|insert|delete)\(Hosting\)|INSERT INTO \"?hosting"
        r"|insert_(?:rows|columns)\(\s*\w+,\s*\"hosting\"",
        {"hosting/record.py"},
    ),
    "hash lists (loaded a version at a time, removed a step at a time)": (
        r"\b(update|insert|delete)\(Hash(List|Entry)\)|(?<!class )\bHash(List|Entry)\("
        r"|(UPDATE|DELETE FROM|INSERT INTO) hash_(list|entry)\b"
        r"|(insert_(?:rows|columns)(_with_ids)?|update_row)\(\w+, \"hash_(list|entry)\"",
        {"takedown/hash_list_import.py", "takedown/hash_list_versions.py"},
    ),
    "staff accounts": (
        r"\b(update|insert|delete)\(Account\)|(?<!class )\bAccount\("
        r"|(UPDATE|DELETE FROM) account\b|(insert_(?:rows|columns)|update_row)\(\w+, \"account\"",
        {"takedown/accounts.py"},
    ),
    "API tokens": (
        r"\b(update|insert|delete)\(ApiToken\)|(?<!class )\bApiToken\("
        r"|UPDATE api_token|(insert_(?:rows|columns)|update_row)\(\w+, \"api_token\"",
        {"takedown/api_tokens.py"},
    ),
    "providers' inbox": (
        r"\b(update|insert|delete)\(InboxMessage\)|(?<!class )\bInboxMessage\("
        r"|(INSERT INTO|UPDATE) inbox_message",
        {"takedown/inbox.py"},
    ),
    "RDAP network cache": (
        r"\b(update|insert|delete)\(RdapNetwork\)|(?<!class )\bRdapNetwork\(",
        {"hosting/cache.py"},
    ),
    "RDAP registration cache": (
        r"\b(update|insert|delete)\(RdapDomain\)|(?<!class )\bRdapDomain\(",
        {"hosting/domain_cache.py"},
    ),
    "console sessions": (
        r"\b(update|insert|delete)\(WebSession\)|(?<!class )\bWebSession\("
        r"|(UPDATE|DELETE FROM) web_session\b|(insert_(?:rows|columns)|update_row)\(\w+, \"web_session\"",
        {"takedown/web_sessions.py"},
    ),
}


@pytest.mark.parametrize("table", sorted(OWNERS))
def test_each_table_is_written_by_its_owner_only(table: str) -> None:
    pattern, owners = OWNERS[table]
    writers = {
        str(path.relative_to(ROOT))
        for package in PACKAGES
        for path in (ROOT / package).rglob("*.py")
        if "migrations" not in path.parts and re.search(pattern, path.read_text(encoding="utf-8"))
    }
    assert writers <= owners, f"{table} written outside its owner: {sorted(writers - owners)}"
    assert writers, "the owner itself was not found: the pattern is stale"


def test_the_faces_hold_no_sql() -> None:
    """A face parses, calls operations and presents what they return; the queries live below it."""
    sql = re.compile(
        r"\bsession\.(execute|scalars?|get|query)\(|\b(select|insert|update|delete)\(|from sqlalchemy import"
    )
    holding = {
        str(path.relative_to(ROOT))
        for path in (ROOT / "faces").rglob("*.py")
        if sql.search(path.read_text(encoding="utf-8"))
    }
    assert holding == set()


def test_no_two_exception_or_enum_classes_share_a_name() -> None:
    """An ``except Outcome`` or an ``InvalidReport`` must name one thing wherever it is read."""
    declared: dict[str, list[str]] = {}
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            for name, bases in re.findall(
                r"^class (\w+)\(([^)]*)\):", path.read_text(encoding="utf-8"), re.M
            ):
                if re.search(r"Error|Exception|Enum|Warning|\bIgnoreRequest\b", bases) or name.endswith(
                    "Error"
                ):
                    declared.setdefault(name, []).append(str(path.relative_to(ROOT)))
    shared = {name: places for name, places in declared.items() if len(places) > 1}
    assert shared == {}
    assert "DeliveryOutcome" in declared and "InvalidReport" in declared  # the scan sees them
