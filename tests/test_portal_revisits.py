"""A URL reported through a portal is revisited once by the crawl of what is due, before an
analyst sees it: live and known to a trusted hash list, it is confirmed and a case opened; gone,
unknown, unreachable or refused (a forbidden address), it waits for an analyst with what the
revisit saw. It is never revisited twice, and a crawl of several processes shares them out."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from sqlalchemy import select

from sandbox import Sandbox
from sandbox.web import Serve, Status, content_digest
from takedown.clock import ManualClock
from takedown.hash_list_import import HashRow, ReadHashRow, import_hash_list
from takedown.models import Case, Check, PortalUrl
from takedown.portal_reports import receive_report
from takedown.portals import PortalChange, add_portal
from takedown.store import Store
from tests.test_revisit import queue, run_crawl

pytestmark = pytest.mark.e2e


@pytest.mark.parametrize("processes", [1, 2])
def test_reported_urls_get_one_revisit_and_a_trusted_match_confirms_them(
    sandbox: Sandbox, store: Store, database_url: str, clock: ManualClock, tmp_path: Path, processes: int
) -> None:
    run = uuid.uuid4().hex[:8]  # the sandbox counts hits per path for the whole module
    known = sandbox.serve("host-a.test", f"/reported-{run}/known.jpg", Serve(f"known-{run}"))
    unknown = sandbox.serve("host-b.test", f"/reported-{run}/other.jpg", Serve(f"other-{run}"))
    gone = sandbox.serve("host-b.test", f"/reported-{run}/gone.jpg", Status(404))
    forbidden = "http://10.9.8.7/reported.jpg"  # outside the networks the sandbox may reach
    digest = content_digest(f"known-{run}")
    entry = ReadHashRow(2, HashRow(sha256=digest, category="csam", classification="A1", reference="K-1"))
    import_hash_list(store.session, iter([entry]), name="iwf", version="1", actor="t", clock=clock)
    policy = tmp_path / "policy.toml"
    policy.write_text('[hash_lists]\nconfirm_without_analyst = [{ list = "iwf", categories = ["csam"] }]\n')
    with store.session() as session:
        add_portal(session, "ke", PortalChange(country="KE", languages=["en"], partner="P"), actor="t",
                   now=clock.now())  # fmt: skip
        received = receive_report(
            session, "ke", [known, unknown, gone, forbidden], content="images", now=clock.now()
        )
    case_id = queue(store, clock, sandbox.serve("host-a.test", f"/case-{run}.jpg", Serve("case")))
    env = {"TAKEDOWN_CHASE_POLICY": str(policy)}
    now = clock.now().strftime("%Y-%m-%dT%H:%M:%SZ")

    summary, _ = run_crawl(
        sandbox, database_url, tmp_path, "--now", now, "--processes", str(processes), env=env
    )

    assert summary["revisited"] == 1  # the case: reported URLs are not cases yet
    assert summary["reported"] == {"awaiting_assessment": 3, "confirmed": 1}
    with store.session() as session:
        urls = {row.url: row for row in session.scalars(select(PortalUrl))}
        assert {url: urls[url].state for url in (known, unknown, gone, forbidden)} == {
            known: "confirmed",
            unknown: "awaiting_assessment",
            gone: "awaiting_assessment",
            forbidden: "awaiting_assessment",
        }
        assert [urls[u].revisit["outcome"] for u in (known, unknown, gone, forbidden)] == [
            "live", "live", "gone", "refused"
        ]  # fmt: skip
        assert urls[known].revisit["sha256"] == digest and urls[known].matches[0]["reference"] == "K-1"
        opened = session.get_one(Case, urls[known].case_id)
        assert (opened.reference, opened.classification, opened.queued_by, opened.queued_at) == (
            received.reference, "A1", "hashlist:iwf", clock.now()
        )  # fmt: skip
        assert session.scalars(select(Check.case_id)).all() == [case_id]  # no check for a report
    assert sandbox.site.hits[("host-a.test", f"/reported-{run}/known.jpg")] == 1

    summary, _ = run_crawl(
        sandbox, database_url, tmp_path, "--now", now, "--processes", str(processes), env=env
    )
    assert "reported" not in summary  # revisited once
    assert sandbox.site.hits[("host-b.test", f"/reported-{run}/other.jpg")] == 1
