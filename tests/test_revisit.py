"""The revisit spider against the sandbox: every outcome, the SSRF guard, and nothing kept.

Each crawl runs as ``takedown crawl`` in a child process, as the scheduler runs it (Twisted's
reactor cannot be restarted inside the test process).
"""

from __future__ import annotations

import ipaddress
import json
import os
import subprocess
import sys
import uuid
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from sandbox import Sandbox
from sandbox.scenario import Change
from sandbox.web import (
    Bomb,
    BrokenChunked,
    Drop,
    Endless,
    Redirect,
    Serve,
    Stall,
    Status,
    content_bytes,
    content_digest,
)
from takedown.case_moves import withdraw
from takedown.cases import get_case
from takedown.clock import ManualClock
from takedown.intake import queue_batch
from takedown.models import Check
from takedown.reports import Report, validate_report
from takedown.store import Store
from tests.conftest import SANDBOX_HOSTS

pytestmark = pytest.mark.e2e

CAP = 256 * 1024


def run_crawl(
    sandbox: Sandbox,
    database_url: str,
    workdir: Path,
    *args: str,
    env: dict[str, str] | None = None,
    verbose: int = 0,
) -> tuple[dict[str, Any], subprocess.CompletedProcess[str]]:
    tmp = workdir / "tmp"
    tmp.mkdir(exist_ok=True)
    environment = {
        **os.environ,
        **sandbox.environment(),
        "TAKEDOWN_DATABASE_URL": database_url,
        "TAKEDOWN_FETCH_TIMEOUT": "2",
        "TAKEDOWN_MAX_FETCH_BYTES": str(CAP),
        "TAKEDOWN_RETRY_BACKOFF": "0.1",
        "TMPDIR": str(tmp),
        "HOME": str(workdir),
        **(env or {}),
    }
    done = subprocess.run(
        [sys.executable, "-m", "faces.cli", *["-v"] * verbose, "crawl", "--json", *args],
        env=environment,
        cwd=workdir,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout), done


def queue(store: Store, clock: ManualClock, url: str, **fields: Any) -> int:
    with store.session() as session:
        [result] = queue_batch(session, [validate_report(Report(url, **fields))], actor="t", now=clock.now())
    return result.case_id


def checks_of(store: Store, case_id: int) -> list[Check]:
    with store.session() as session:
        return list(session.scalars(select(Check).where(Check.case_id == case_id).order_by(Check.id)))


@pytest.fixture
def queued(store: Store, clock: ManualClock) -> Callable[..., int]:
    return lambda url, **fields: queue(store, clock, url, **fields)


def test_every_outcome_is_recorded_with_what_was_seen(
    sandbox: Sandbox, store: Store, database_url: str, queued, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    digest = content_digest("img-a")
    s = sandbox
    p = f"/{uuid.uuid4().hex[:8]}"  # the sandbox is shared by the module: keep hit counts apart
    cases = {
        "live, matching": queued(s.serve("host-a.test", f"{p}/live.jpg", Serve("img-a")), sha256=(digest,)),
        "live, no fingerprint": queued(s.serve("host-a.test", f"{p}/any.jpg", Serve("img-b"))),
        "live via CNAME": queued(s.serve("alias.test", f"{p}/live.jpg", Serve("img-a")), sha256=(digest,)),
        "changed": queued(s.serve("host-a.test", f"{p}/swapped.jpg", Serve("img-c")), sha256=(digest,)),
        "404": queued(s.serve("host-a.test", f"{p}/404", Status(404))),
        "410": queued(s.serve("host-b.test", f"{p}/410", Status(410))),
        "451": queued(s.serve("host-b.test", f"{p}/451", Status(451))),
        "suspended": queued(
            s.serve(
                "host-b.test",
                f"{p}/user/9",
                Redirect(s.serve("host-b.test", f"{p}/account-suspended", Serve("p", 50))),
            )
        ),
        "nxdomain": queued(s.url("deleted-host.test", f"{p}/x.jpg")),
        "503": queued(s.serve("host-b.test", f"{p}/busy", Status(503))),
        "timeout": queued(s.serve("host-a.test", f"{p}/slow", Stall(10))),
        "dropped": queued(s.serve("host-a.test", f"{p}/drop", Drop())),
        "redirect loop": queued(
            s.serve("host-a.test", f"{p}/loop", Redirect(s.url("host-a.test", f"{p}/loop")))
        ),
        "broken chunked": queued(s.serve("host-a.test", f"{p}/broken", BrokenChunked())),
        "endless": queued(s.serve("host-b.test", f"{p}/stream", Endless())),
    }
    summary, _ = run_crawl(sandbox, database_url, tmp_path)
    assert summary["revisited"] == len(cases)

    outcome = {name: checks_of(store, case_id)[-1] for name, case_id in cases.items()}
    expected = {
        "live, matching": "live",
        "live, no fingerprint": "live",
        "live via CNAME": "live",
        "changed": "changed",
        "404": "gone",
        "410": "gone",
        "451": "gone",
        "suspended": "gone",
        "nxdomain": "gone",
        "503": "unreachable",
        "timeout": "unreachable",
        "dropped": "unreachable",
        "redirect loop": "unreachable",
        "broken chunked": "unreachable",
        "endless": "live",
    }
    assert {name: check.outcome for name, check in outcome.items()} == expected

    live = outcome["live, matching"]
    assert (live.http_status, live.sha256, live.fingerprint_match) == (200, digest, True)
    assert live.md5 == content_digest("img-a", algorithm="md5")
    assert live.sha1 == content_digest("img-a", algorithm="sha1")
    assert (live.size_bytes, live.connected_ip, live.truncated) == (20_000, "127.0.0.2", False)
    assert live.duration_ms is not None and live.duration_ms >= 0
    assert outcome["changed"].fingerprint_match is False
    assert outcome["live via CNAME"].connected_ip == "127.0.0.2"

    suspended = outcome["suspended"]
    assert suspended.redirect_chain == [s.url("host-b.test", f"{p}/user/9")]
    assert suspended.final_url == s.url("host-b.test", f"{p}/account-suspended")
    assert outcome["nxdomain"].http_status is None and "NXDOMAIN" in (outcome["nxdomain"].error_detail or "")
    assert outcome["redirect loop"].error_class == "RedirectLoop"
    assert outcome["503"].http_status == 503
    assert sandbox.site.hits[("host-b.test", f"{p}/busy")] == 3, "a 5xx is retried twice"
    endless = outcome["endless"]
    assert (endless.truncated, endless.size_bytes) == (True, CAP)
    assert endless.sha256 is not None and endless.fingerprint_match is None

    with store.session() as session:
        states = {name: get_case(session, case_id).state for name, case_id in cases.items()}
        live_case = get_case(session, cases["live, matching"], with_history=True)
        assert live_case.first_seen_live_at is not None and live_case.last_seen_live_at is not None
        assert live_case.next_check_at is not None and live_case.next_check_at > live_case.last_checked_at
        assert [(e.action, e.from_state, e.to_state) for e in live_case.events][-1] == (
            "revisit",
            "queued",
            "live",
        )
    assert states == {name: state for name, state in expected.items()}


def test_final_dns_answers_are_not_retried(
    sandbox: Sandbox, store: Store, database_url: str, queued, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    name = f"never-existed-{database_url[:6]}.test"
    case_id = queued(sandbox.url(name, "/a"))
    run_crawl(sandbox, database_url, tmp_path)
    [check] = checks_of(store, case_id)
    assert check.outcome == "gone"
    assert sandbox.dns.queries[(name, "A")] == 1, "NXDOMAIN is final: the name is asked once"


@pytest.mark.parametrize("target", ["loopback.test", "intranet.test", "127.0.0.9", "127.0.0.1"])
def test_the_ssrf_guard_refuses_forbidden_addresses_without_connecting(
    sandbox: Sandbox, store: Store, database_url: str, queued, tmp_path: Path, target: str
) -> None:  # type: ignore[no-untyped-def]
    path = f"/secret-{uuid.uuid4().hex[:8]}"
    sandbox.serve("intranet.test", path, Serve("intranet"))
    sandbox.serve(target if target != "127.0.0.9" else "127.0.0.9", path, Serve("intranet"))
    case_id = queued(f"http://{target}:{sandbox.port}{path}")
    run_crawl(sandbox, database_url, tmp_path)
    [check] = checks_of(store, case_id)
    assert check.outcome == "refused"
    assert check.http_status is None and check.sha256 is None
    assert "loopback" in (check.error_detail or "")
    assert sum(count for (host, hit_path), count in sandbox.site.hits.items() if hit_path == path) == 0
    with store.session() as session:
        assert get_case(session, case_id).state == "queued", "a refusal says nothing about the content"


@pytest.mark.parametrize("target", ["intranet.test", "127.0.0.9"])
def test_the_ssrf_guard_also_refuses_a_redirect_into_a_forbidden_address(
    sandbox: Sandbox, store: Store, database_url: str, queued, tmp_path: Path, target: str
) -> None:  # type: ignore[no-untyped-def]
    unique = uuid.uuid4().hex[:8]
    inside, bounce = f"/inside-{unique}", f"/bounce-{unique}"
    sandbox.serve("intranet.test", inside, Serve("intranet"))
    sandbox.serve("127.0.0.9", inside, Serve("intranet"))
    case_id = queued(
        sandbox.serve("host-a.test", bounce, Redirect(f"http://{target}:{sandbox.port}{inside}"))
    )
    run_crawl(sandbox, database_url, tmp_path)
    [check] = checks_of(store, case_id)
    assert check.outcome == "refused"
    assert sandbox.site.hits[("host-a.test", bounce)] == 1
    assert sum(count for (host, hit_path), count in sandbox.site.hits.items() if hit_path == inside) == 0


def test_no_fetched_byte_reaches_the_disk_the_database_or_the_logs(
    sandbox: Sandbox, store: Store, database_url: str, queued, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    size = 200_000
    body = content_bytes("must-not-persist", size)
    queued(sandbox.serve("host-b.test", "/evidence.jpg", Serve("must-not-persist", size)))
    # an operator (or a copied command line) trying to turn a cache or a feed back on changes nothing
    attempts = ["HTTPCACHE_ENABLED=True", 'FEEDS={"feed.jsonl": {"format": "jsonlines"}}']
    summary, done = run_crawl(
        sandbox, database_url, tmp_path, *[arg for a in attempts for arg in ("-s", a)], verbose=2
    )
    assert summary["outcomes"] == {"live": 1}
    probes = [body[:48], body[size // 2 : size // 2 + 48], body[-48:]]
    for path in [p for p in tmp_path.rglob("*") if p.is_file()]:
        data = path.read_bytes()
        assert not any(probe in data for probe in probes), f"fetched bytes found in {path}"
    logs = (done.stdout + done.stderr).encode("utf-8", "surrogateescape")
    assert not any(probe in logs for probe in probes)
    assert not any(probe.hex() in done.stderr for probe in probes)
    assert not (tmp_path / ".scrapy").exists(), "no HTTP cache directory"


def test_requests_say_who_they_are_and_robots_txt_is_not_fetched(
    sandbox: Sandbox, store: Store, database_url: str, queued, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    queued(sandbox.serve("host-a.test", "/ua-check.jpg", Serve("ua")))
    before = len(sandbox.site.user_agents)
    run_crawl(
        sandbox,
        database_url,
        tmp_path,
        env={"TAKEDOWN_USER_AGENT": "ExampleHotline-Verify/2.0 (+abuse@hotline.test)"},
    )
    assert sandbox.site.user_agents[before:] == ["ExampleHotline-Verify/2.0 (+abuse@hotline.test)"]
    assert sandbox.site.hits[("host-a.test", "/robots.txt")] == 0


def test_only_due_cases_or_the_named_ones_are_revisited_and_closed_ones_never(
    sandbox: Sandbox, store: Store, database_url: str, queued, clock: ManualClock, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    first = queued(sandbox.serve("host-a.test", "/due-1.jpg", Serve("d1")))
    second = queued(sandbox.serve("host-a.test", "/due-2.jpg", Serve("d2")))
    withdrawn = queued(sandbox.serve("host-a.test", "/due-3.jpg", Serve("d3")))
    with store.session() as session:
        withdraw(session, withdrawn, reason="test", actor="t", now=clock.now())

    now = clock.now().strftime("%Y-%m-%dT%H:%M:%SZ")
    summary, _ = run_crawl(sandbox, database_url, tmp_path, "--now", now)
    assert summary["revisited"] == 2
    assert [c.checked_at for c in checks_of(store, first)] == [clock.now()], "checks carry the injected time"

    summary, _ = run_crawl(sandbox, database_url, tmp_path, "--now", now)
    assert summary["revisited"] == 0, "nothing is due again within the revisit interval"

    later = (clock.now() + timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    summary, _ = run_crawl(
        sandbox, database_url, tmp_path, "--now", later, "--case", str(second), "--case", str(withdrawn)
    )
    assert summary["revisited"] == 1
    assert len(checks_of(store, second)) == 2 and len(checks_of(store, first)) == 1
    assert checks_of(store, withdrawn) == []


def test_transient_failures_are_retried_after_growing_pauses(
    sandbox: Sandbox, store: Store, database_url: str, queued, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    path = f"/flaky-{uuid.uuid4().hex[:8]}"
    url = sandbox.serve("host-b.test", path, Status(503))
    sandbox.events.changes.append(
        Change(after=f"fetch:host-b.test{path}", count=2, host="host-b.test", path=path, then=Serve("ok"))
    )
    case_id = queued(url)
    run_crawl(sandbox, database_url, tmp_path, env={"TAKEDOWN_RETRY_BACKOFF": "0.4"})
    times = sandbox.site.hit_times[("host-b.test", path)]
    assert len(times) == 3, "two 503s, then the content"
    first_pause, second_pause = times[1] - times[0], times[2] - times[1]
    assert first_pause >= 0.2 and second_pause >= 0.4, (first_pause, second_pause)
    assert checks_of(store, case_id)[-1].outcome == "live"


def test_a_retry_after_from_the_host_is_honoured(
    sandbox: Sandbox, store: Store, database_url: str, queued, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    path = f"/busy-{uuid.uuid4().hex[:8]}"
    url = sandbox.serve("host-b.test", path, Status(429, retry_after=2))
    sandbox.events.changes.append(
        Change(after=f"fetch:host-b.test{path}", count=1, host="host-b.test", path=path, then=Serve("ok"))
    )
    queued(url)
    run_crawl(sandbox, database_url, tmp_path)
    times = sandbox.site.hit_times[("host-b.test", path)]
    assert len(times) == 2 and times[1] - times[0] >= 1.9


def test_politeness_holds_per_server_across_names_and_dns_is_asked_once_per_host(
    sandbox: Sandbox, store: Store, database_url: str, queued, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    """host-a.test and alias.test are one server (127.0.0.2): together they get two connections."""
    unique = uuid.uuid4().hex[:8]
    name = f"polite-{unique}.test"
    sandbox.dns.set_records(name, {"A": ["127.0.0.2"]})
    for index in range(6):
        for host in ("host-a.test", "alias.test", name):
            queued(sandbox.serve(host, f"/slow-{unique}-{index}", Serve(f"s{index}", 1000, delay=0.15)))
    sandbox.site.peak_in_flight.clear()
    summary, _ = run_crawl(sandbox, database_url, tmp_path, env={"TAKEDOWN_CONCURRENCY_PER_HOST": "2"})
    assert summary["outcomes"] == {"live": 18}
    assert sandbox.site.peak_in_flight["127.0.0.2"] == 2
    assert sandbox.dns.queries[(name, "A")] == 1, "one lookup per host name per crawl, not one per URL"


def test_checks_still_pending_when_the_crawl_ends_are_written(
    sandbox: Sandbox, store: Store, database_url: str, queued, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    """With no timer flush and a batch larger than the crawl, every check waits for the close."""
    unique = uuid.uuid4().hex[:8]
    cases = [
        queued(sandbox.serve("host-b.test", f"/pending-{unique}-{n}", Serve(f"p{n}", 500))) for n in range(30)
    ]
    summary, _ = run_crawl(
        sandbox,
        database_url,
        tmp_path,
        "-s",
        "TAKEDOWN_CHECK_FLUSH_SECONDS=600",
        "-s",
        "TAKEDOWN_CHECK_BATCH=1000",
    )
    assert summary["revisited"] == 30
    assert all(len(checks_of(store, case_id)) == 1 for case_id in cases)


def test_a_host_written_as_a_number_is_fetched_at_that_address_and_guarded_as_one(
    sandbox: Sandbox, store: Store, database_url: str, queued, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    allowed = int(ipaddress.IPv4Address(SANDBOX_HOSTS["host-a.test"]))  # 127.0.0.2 as one number
    forbidden = int(ipaddress.IPv4Address("127.0.0.9"))  # the intranet host: never to be reached
    path = f"/{uuid.uuid4().hex[:8]}/numeric.jpg"
    sandbox.serve(SANDBOX_HOSTS["host-a.test"], path, Serve("numeric"))
    sandbox.serve("127.0.0.9", path, Serve("intranet"))
    live = queued(f"http://{allowed}:{sandbox.port}{path}")
    refused = queued(f"http://{hex(forbidden)}:{sandbox.port}{path}")
    run_crawl(sandbox, database_url, tmp_path)
    [check] = checks_of(store, live)
    assert (check.outcome, check.connected_ip) == ("live", SANDBOX_HOSTS["host-a.test"])
    assert check.sha256 == content_digest("numeric")
    [check] = checks_of(store, refused)
    assert check.outcome == "refused"
    assert sandbox.site.hits[("127.0.0.9", path)] == 0


@pytest.mark.parametrize("encoding", ["gzip", "deflate", "br", "zstd"])
def test_a_compressed_body_is_fingerprinted_as_the_file_it_carries(
    sandbox: Sandbox, store: Store, database_url: str, queued, tmp_path: Path, encoding: str
) -> None:  # type: ignore[no-untyped-def]
    path = f"/{uuid.uuid4().hex[:8]}/packed.png"
    digest = content_digest("packed-file", 50_000)
    case_id = queued(
        sandbox.serve("host-a.test", path, Serve("packed-file", 50_000, encoding=encoding)), sha256=(digest,)
    )
    run_crawl(sandbox, database_url, tmp_path)
    [check] = checks_of(store, case_id)
    assert (check.outcome, check.sha256, check.fingerprint_match) == ("live", digest, True)
    assert (check.size_bytes, check.content_encoding, check.truncated) == (50_000, encoding, False)


def test_a_file_declared_larger_than_the_cap_is_hashed_up_to_it_and_compared_by_prefix(
    sandbox: Sandbox, store: Store, database_url: str, queued, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    size = 64 * 1024 * 1024
    path = f"/{uuid.uuid4().hex[:8]}/film.mp4"
    url = sandbox.serve("host-b.test", path, Serve("film", size, "video/mp4", etag='"v1"'))
    full = "0" * 64  # the analyst's digest of the whole file: a prefix can never match it
    case_id = queued(url, sha256=(full,))
    run_crawl(sandbox, database_url, tmp_path)
    [first] = checks_of(store, case_id)
    assert (first.outcome, first.truncated, first.size_bytes) == ("live", True, CAP)
    assert first.sha256 == content_digest("film", CAP)  # the first CAP bytes of the file
    assert (first.declared_length, first.content_type, first.etag) == (size, "video/mp4", '"v1"')

    run_crawl(sandbox, database_url, tmp_path, "--case", str(case_id))  # the same file again: live
    sandbox.serve("host-b.test", path, Serve("another-film", size, "video/mp4", etag='"v2"'))
    run_crawl(sandbox, database_url, tmp_path, "--case", str(case_id))  # another file: changed
    _, again, swapped = checks_of(store, case_id)
    assert (again.outcome, again.sha256) == ("live", first.sha256)
    assert (swapped.outcome, swapped.fingerprint_match) == ("changed", False)
    with store.session() as session:
        assert get_case(session, case_id).state == "changed"


def test_a_decompression_bomb_is_refused_with_its_reason(
    sandbox: Sandbox, store: Store, database_url: str, queued, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    path = f"/{uuid.uuid4().hex[:8]}/bomb.png"
    case_id = queued(sandbox.serve("host-a.test", path, Bomb("gzip", 256 * 1024 * 1024)))
    # Inflating to the 64 MiB cap takes a few seconds on a busy machine: room for it, so that what is
    # tested is the bomb's refusal, not the 2-second timeout of the other tests.
    limits = {"TAKEDOWN_MAX_FETCH_BYTES": str(64 * 1024 * 1024), "TAKEDOWN_FETCH_TIMEOUT": "60"}
    run_crawl(sandbox, database_url, tmp_path, env=limits)
    [check] = checks_of(store, case_id)
    assert (check.outcome, check.error_class) == ("refused", "DecompressionBomb")
    assert "decompression bomb" in (check.error_detail or "")
    assert check.size_bytes is not None and check.size_bytes < 64 * 1024 * 1024
