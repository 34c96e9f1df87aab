"""Who a round writes to, and what stops it: one recipient's broken template or one case's invalid
X-ARF report never stops it; a URL that redirects gets both its content's host and the redirect's."""

from __future__ import annotations

import email
import email.policy
import re
import shutil
from datetime import timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import select, update

from faces.cli import App, cli
from hosting.contact_writes import set_contact
from hosting.factory import resolver_from_settings
from notices.compose import Composer
from notices.render import SHIPPED_TEMPLATES, NoticeRenderer
from sandbox import Sandbox
from schedules.chase import notice_round
from schedules.jobs import notify_job
from takedown.clock import ManualClock
from takedown.intake import queue_batch
from takedown.models import Case, Event, Notice, NoticeCase
from takedown.policy import ChasePolicy
from takedown.reports import Report, validate_report
from takedown.revisits import Fetch, record_fetches
from takedown.settings import Settings, sqlite_url
from takedown.store import Store
from tests.closing import closed_after_test
from tests.worlds import composer, make_live


def test_a_broken_template_for_one_recipient_defers_only_its_cases(
    world: Sandbox, store: Store, clock: ManualClock, tmp_path: Path
) -> None:
    templates = tmp_path / "templates"
    shutil.copytree(SHIPPED_TEMPLATES, templates)
    shutil.copytree(templates / "notices" / "en", templates / "notices" / "nl")
    (templates / "notices" / "nl" / "initial.txt.j2").write_text("{{ no_such_variable.at_all }}\n")
    settings = Settings.from_env(
        {**world.environment(), "TAKEDOWN_HOME": str(tmp_path), "TAKEDOWN_TEMPLATES": str(templates)}
    )
    set_contact(
        store, "network", "127.0.41.0/24", email="abuse@host-b.test", language="nl", actor="analyst:t"
    )
    ids = make_live(
        store,
        clock,
        {world.url("host-a.test", "/a.jpg"): "127.0.40.1", world.url("host-b.test", "/b.jpg"): "127.0.41.1"},
    )
    resolver = closed_after_test(resolver_from_settings(settings, store=store, clock=clock))
    notices = Composer(store, resolver, settings, NoticeRenderer(settings.templates_dir))
    summary = notice_round(notices, ChasePolicy(), now=clock.now())

    case_a, case_b = ids[world.url("host-a.test", "/a.jpg")], ids[world.url("host-b.test", "/b.jpg")]
    assert summary.notices == {"initial": 1}
    assert set(summary.deferred) == {case_b}
    assert "abuse@host-b.test" in summary.deferred[case_b].reason
    assert "no_such_variable" in summary.deferred[case_b].reason
    with store.session() as session:
        assert list(session.scalars(select(Notice.recipient))) == ["abuse@host-a.test"]
        assert session.get(Case, case_a).notice_rounds == 1  # type: ignore[union-attr]
        assert session.get(Case, case_b).notice_rounds == 0  # type: ignore[union-attr]
        actions = set(session.scalars(select(Event.action).where(Event.case_id == case_b)))
        assert "notice_deferred" in actions and "notice_queued" not in actions


def test_a_case_whose_report_fails_validation_leaves_the_notice_to_its_other_cases(
    world: Sandbox, store: Store, clock: ManualClock, tmp_path: Path
) -> None:
    settings = Settings.from_env({**world.environment(), "TAKEDOWN_HOME": str(tmp_path)})
    urls = {world.url("host-a.test", f"/{n}.jpg"): "127.0.40.1" for n in range(3)}
    ids = make_live(store, clock, urls)
    broken = ids[world.url("host-a.test", "/1.jpg")]
    with store.session() as session:  # what a row from before intake checked classifications looks like
        session.execute(update(Case).where(Case.id == broken).values(classification="not-a-class"))
    summary = notice_round(composer(store, settings, clock), ChasePolicy(), now=clock.now())

    assert set(summary.deferred) == {broken}
    assert "X-ARF" in summary.deferred[broken].reason
    with store.session() as session:
        (notice_id,) = session.scalars(select(Notice.id))
        listed = set(session.scalars(select(NoticeCase.case_id).where(NoticeCase.notice_id == notice_id)))
        message = session.get(Notice, notice_id).message  # type: ignore[union-attr]
    assert listed == set(ids.values()) - {broken}
    assert "/1.jpg" not in message and "/0.jpg" in message and "/2.jpg" in message


def test_a_round_whose_reports_stop_passing_the_strict_schema_sends_nothing(
    world: Sandbox, store: Store, clock: ManualClock, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Reports are valid by construction, so a round validates one in full, not every one; should
    a setting or a new release of the schema make them invalid, that one says so, and so does the
    next, until the round has none left to send: no notice goes out with an invalid report."""
    import notices.compose
    from notices.xarf import InvalidXarfReport

    def refuse(report: dict[str, object]) -> None:  # as a stricter schema would
        raise InvalidXarfReport("report: 'evidence' is a required property")

    monkeypatch.setattr(notices.compose, "validate", refuse)
    settings = Settings.from_env({**world.environment(), "TAKEDOWN_HOME": str(tmp_path)})
    urls = {world.url("host-a.test", f"/{n}.jpg"): "127.0.40.1" for n in range(3)}
    urls |= {world.url("host-b.test", f"/{n}.jpg"): "127.0.41.1" for n in range(2)}
    ids = make_live(store, clock, urls)
    summary = notice_round(composer(store, settings, clock), ChasePolicy(), now=clock.now())

    assert sum(summary.notices.values()) == 0 and set(summary.deferred) == set(ids.values())
    assert all("'evidence' is a required property" in d.reason for d in summary.deferred.values())
    with store.session() as session:
        assert list(session.scalars(select(Notice))) == []


def test_a_url_that_redirects_gets_its_content_host_and_the_redirects_host_notified(
    world: Sandbox, store: Store, clock: ManualClock, tmp_path: Path
) -> None:
    settings = Settings.from_env({**world.environment(), "TAKEDOWN_HOME": str(tmp_path)})
    reported = world.url("host-a.test", "/go/42")
    served = world.url("host-b.test", "/files/42.jpg")
    with store.session() as session:
        [queued] = queue_batch(
            session, [validate_report(Report(reported))], actor="analyst:t", now=clock.now()
        )
    clock.advance(timedelta(minutes=5))
    with store.session() as session:  # what the revisit of a redirecting URL records
        record_fetches(
            session,
            [
                Fetch(
                    queued.case_id,
                    clock.now(),
                    http_status=200,
                    final_url=served,
                    redirect_chain=(reported,),
                    connected_ip="127.0.41.1",
                    sha256="ab" * 32,
                )
            ],
        )
    summary = notice_round(composer(store, settings, clock), ChasePolicy(), now=clock.now())

    assert summary.notices == {"initial": 2}
    with store.session() as session:
        notices = {n.recipient: n for n in session.scalars(select(Notice))}
    assert {r: n.role for r, n in notices.items()} == {
        "abuse@host-b.test": "hosting",  # where the content is
        "abuse@host-a.test": "redirector",  # where the redirect is
    }
    to_redirector = _text(notices["abuse@host-a.test"].message)
    assert f"Reached through redirects: {reported} -> {served}" in to_redirector
    assert "Please remove the redirect" in to_redirector
    assert f"served the redirect from {reported} to {served}" in to_redirector
    to_host = _text(notices["abuse@host-b.test"].message)
    assert "Beta Web Services" in to_host and "Please remove the content" in to_host


def _text(message: str) -> str:
    parsed = email.message_from_string(message, policy=email.policy.default)
    body = parsed.get_body(preferencelist=("plain",))
    assert body is not None
    return " ".join(str(body.get_content()).split())


def test_the_scheduler_job_and_notices_send_due_write_the_same_outbox(
    world: Sandbox, clock: ManualClock, tmp_path: Path
) -> None:
    urls = {
        world.url("host-a.test", "/1.jpg"): "127.0.40.1",
        world.url("host-a.test", "/2.jpg"): "127.0.40.1",
        world.url("host-b.test", "/3.jpg"): "127.0.41.1",
        world.url("nomail.test", "/4.jpg"): "127.0.43.1",
    }
    outboxes = []
    for how in ("job", "cli"):
        store = Store.open(sqlite_url(tmp_path / f"{how}.db"))
        when = ManualClock(clock.now())
        settings = Settings.from_env({**world.environment(), "TAKEDOWN_HOME": str(tmp_path / how)})
        make_live(store, when, urls)
        if how == "job":
            notify_job(settings, store, when)
        else:
            app = App(settings=settings, clock=when, _store=store)
            sent = CliRunner().invoke(cli, ["notices", "send", "--due", "--json"], obj=app)
            assert sent.exit_code == 0, sent.output
        outboxes.append(_outbox(store))
        store.dispose()
    job, by_cli = outboxes
    assert job and job == by_cli


def _outbox(store: Store) -> list[tuple[object, ...]]:
    """Each notice as a recipient sees it, less what is unique to one message (reference, ids)."""
    with store.session() as session:
        notices = session.scalars(select(Notice).order_by(Notice.recipient, Notice.level)).all()
        rows = []
        for notice in notices:
            cases = sorted(
                session.scalars(select(NoticeCase.case_id).where(NoticeCase.notice_id == notice.id))
            )
            body = re.sub(r"TD-\d{8}-[0-9A-F]{6}", "TD-REF", _text(notice.message))
            rows.append((notice.recipient, notice.level, notice.role, notice.status, tuple(cases), body))
    return rows
