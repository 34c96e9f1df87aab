"""The hotline's own hash feed for partners: what its revisits confirmed live, never what was
withdrawn, as a whole or as a delta, the same from the command line and the API."""

from __future__ import annotations

import csv
import hashlib
import io
import json
from datetime import timedelta

import httpx
from click.testing import CliRunner

from faces.cli import App, cli
from takedown.api_tokens import add_token
from takedown.case_moves import withdraw
from takedown.clock import ManualClock
from takedown.hash_export import confirmed_fingerprints
from takedown.intake import queue_batch
from takedown.reports import Report, validate_report
from takedown.revisits import Fetch, record_fetches
from takedown.settings import Settings
from takedown.sql_reads import SessionReads
from takedown.store import Store
from takedown.token_views import TokenScope
from tests.conftest import printed_both_ways
from tests.console_support import Served


def body(label: str) -> dict[str, str]:
    data = label.encode()
    return {name: hashlib.new(name, data).hexdigest() for name in ("sha256", "md5", "sha1")}


def live_case(store: Store, clock: ManualClock, url: str, label: str, **fetch: object) -> int:
    with store.session() as session:
        [queued] = queue_batch(session, [validate_report(Report(url))], actor="analyst:t", now=clock.now())
    with store.session() as session:
        record_fetches(
            session,
            [Fetch(queued.case_id, clock.now(), http_status=200, final_url=url, **{**body(label), **fetch})],
        )
    return queued.case_id


def feed(store: Store, **since: object) -> list[tuple[str, str]]:
    with store.session() as session:
        return [(row.action, row.sha256) for row in confirmed_fingerprints(SessionReads(session), **since)]  # type: ignore[arg-type]


def test_the_feed_holds_what_was_confirmed_and_drops_what_was_withdrawn(
    store: Store, clock: ManualClock
) -> None:
    start = clock.now()
    live_case(store, clock, "http://e1.test/a.jpg", "image-a")
    clock.advance(timedelta(hours=1))
    live_case(store, clock, "http://e2.test/copy-of-a.jpg", "image-a")  # the same body elsewhere
    live_case(store, clock, "http://e3.test/big.mp4", "prefix-only", truncated=True)  # a prefix: no use
    withdrawn = live_case(store, clock, "http://e4.test/mistake.jpg", "image-w")
    shared = live_case(store, clock, "http://e5.test/b.jpg", "image-b")
    live_case(store, clock, "http://e6.test/b-again.jpg", "image-b")

    everything = feed(store)
    later = sorted([body("image-w")["sha256"], body("image-b")["sha256"]])  # first seen at the same time
    assert everything == [("add", body("image-a")["sha256"]), *(("add", sha) for sha in later)]
    with store.session() as session:
        rows = confirmed_fingerprints(SessionReads(session))
        [first] = [row for row in rows if row.sha256 == body("image-a")["sha256"]]
    assert (
        first.first_seen == start
        and first.md5 == body("image-a")["md5"]
        and first.sha1 == body("image-a")["sha1"]
    )
    assert first.category == "csam"

    clock.advance(timedelta(days=1))
    cut = clock.now()
    with store.session() as session:
        withdraw(session, withdrawn, reason="reported in error", actor="analyst:t", now=clock.now())
        withdraw(session, shared, reason="duplicate", actor="analyst:t", now=clock.now())
    live_case(store, clock, "http://e7.test/new.jpg", "image-new")

    assert body("image-w")["sha256"] not in {sha for _, sha in feed(store)}
    assert body("image-b")["sha256"] in {sha for _, sha in feed(store)}  # still confirmed at e6
    assert feed(store, since=cut) == [
        ("add", body("image-new")["sha256"]),
        ("remove", body("image-w")["sha256"]),
    ]
    assert feed(store, since=clock.now() + timedelta(days=1)) == []


def test_the_feed_is_printed_alike_through_the_driver_and_through_the_store(
    store: Store, clock: ManualClock
) -> None:
    """``hashes export`` reads the feed through the database driver alone (no SQLAlchemy to import);
    a session of the store sends the same SQL: the whole feed and a delta print the same, times and
    all, on both backends."""
    live_case(store, clock, "http://d1.test/a.jpg", "image-a", pdq="f" * 64, pdq_quality=100)
    clock.advance(timedelta(hours=1, microseconds=7))
    withdrawn = live_case(store, clock, "http://d2.test/w.jpg", "image-w")
    live_case(store, clock, "http://d3.test/b.jpg", "image-b", pdq="0" * 64, pdq_quality=10)
    with store.session() as session:
        withdraw(session, withdrawn, reason="reported in error", actor="analyst:t", now=clock.now())
    whole, delta, as_json = printed_both_ways(
        store, clock, ["hashes", "export"], ["hashes", "export", "--since", "2026-03-01T09:30:00"],
        ["hashes", "export", "--json"],
    )  # fmt: skip
    rows = list(csv.DictReader(io.StringIO(whole)))
    assert [(row["sha256"], row["pdq"]) for row in rows] == [
        (body("image-a")["sha256"], "f" * 64),  # a good PDQ hash is shared, a poor one is not
        (body("image-b")["sha256"], ""),
    ]
    assert (rows[0]["first_seen"], rows[1]["first_seen"]) == ("2026-03-01T09:00:00Z", "2026-03-01T10:00:00Z")
    assert [(row["action"], row["sha256"]) for row in csv.DictReader(io.StringIO(delta))] == [
        ("add", body("image-b")["sha256"]),
        ("remove", body("image-w")["sha256"]),
    ]
    assert [json.loads(line)["sha256"] for line in as_json.splitlines()] == [row["sha256"] for row in rows]


def test_partners_read_the_feed_as_the_command_line_prints_it(console: Served) -> None:
    live_case(console.store, console.clock, "http://p1.test/a.jpg", "image-p")
    app = App(settings=Settings(database_url="unused", actor="t"), clock=console.clock, _store=console.store)
    printed = CliRunner().invoke(cli, ["hashes", "export"], obj=app)
    assert printed.exit_code == 0, printed.output
    [row] = list(csv.DictReader(io.StringIO(printed.stdout)))
    assert row["action"] == "add" and row["sha256"] == body("image-p")["sha256"] and row["category"] == "csam"
    as_json = CliRunner().invoke(cli, ["hashes", "export", "--json"], obj=app).stdout
    with console.store.session() as session:
        token = add_token(
            session, "partner-one", TokenScope.READ, created_by="t", now=console.clock.now()
        ).token
    answer = httpx.get(console.url + "/api/v1/hashes", headers={"Authorization": f"Bearer {token}"})
    assert answer.status_code == 200 and answer.headers["content-type"].startswith("application/x-ndjson")
    assert [json.loads(line) for line in answer.text.splitlines()] == [
        json.loads(line) for line in as_json.splitlines()
    ]
    later = httpx.get(
        console.url + "/api/v1/hashes", params={"since": "2030-01-01T00:00:00Z"},
        headers={"Authorization": f"Bearer {token}"},
    )  # fmt: skip
    assert later.status_code == 200 and later.text == ""
    assert httpx.get(console.url + "/api/v1/hashes").status_code == 401
