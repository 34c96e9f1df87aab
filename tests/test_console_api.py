"""The JSON API over HTTP: bearer tokens and their scopes, the CLI's data shapes, refusals."""

from __future__ import annotations

import json

import httpx
from click.testing import CliRunner
from sqlalchemy import select

from faces.cli import App, cli
from notices.message import build_message
from notices.outbox import OutgoingNotice, enqueue
from notices.render import Rendered
from takedown import exitcodes
from takedown.api_tokens import add_token
from takedown.models import ApiToken, Event
from takedown.settings import Settings
from takedown.token_views import TokenScope
from tests.closing import closed_after_test
from tests.console_support import Served, sign_in


def token(served: Served, name: str, scope: TokenScope) -> str:
    with served.store.session() as session:
        return add_token(session, name, scope, created_by="t", now=served.clock.now()).token


def api(served: Served, bearer: str | None) -> httpx.Client:
    headers = {"Authorization": f"Bearer {bearer}"} if bearer else {}
    return closed_after_test(httpx.Client(base_url=served.url + "/api/v1", headers=headers, timeout=10))


def cli_json(served: Served, *args: str) -> str:
    app = App(settings=Settings(database_url="unused", actor="t"), clock=served.clock, _store=served.store)
    result = CliRunner().invoke(cli, [*args, "--json"], obj=app)
    assert result.exit_code == 0, result.output
    return result.stdout


def test_without_a_valid_token_nothing_is_answered(console: Served) -> None:
    for bearer in (None, "tdk_forged", "not-even-the-prefix"):
        answer = api(console, bearer).get("/cases")
        assert answer.status_code == 401 and answer.headers["www-authenticate"].startswith("Bearer")
    # the console's session cookie is no key to the API
    from takedown.vocabulary import StaffRole

    console.account("ana", StaffRole.ANALYST)
    browser = console.client()
    assert sign_in(browser, "ana").status_code == 303
    assert browser.get("/api/v1/cases").status_code == 401


def test_a_read_token_reads_and_a_write_token_also_writes(console: Served) -> None:
    reader = api(console, token(console, "dashboard-script", TokenScope.READ))
    writer = api(console, token(console, "partner-intake", TokenScope.WRITE))
    refused = reader.post("/cases", json={"urls": ["http://a.example/x"]})
    assert refused.status_code == 403 and "read token cannot" in refused.json()["error"]
    queued = writer.post(
        "/cases", json={"urls": ["http://a.example/x", "ftp://b.example/y", "http://a.example/x"]}
    )
    assert queued.status_code == 207
    results = queued.json()["results"]
    assert [r.get("outcome") for r in results] == ["queued", None, "already_open"]
    assert results[1]["refused"]["field"] == "url" and "not allowed" in results[1]["refused"]["message"]
    assert reader.get("/cases").json()["cases"][0]["url"] == "http://a.example/x"
    withdrawn = writer.post("/cases/1/withdraw", json={"reason": "partner asked"})
    assert withdrawn.status_code == 200 and withdrawn.json()["state"] == "withdrawn"
    assert writer.post("/cases/1/withdraw", json={"reason": "again"}).status_code == 409
    assert writer.post("/cases/99/withdraw", json={"reason": "x"}).status_code == 404
    with console.store.session() as session:
        assert set(session.scalars(select(Event.actor))) == {"api:partner-intake"}


def test_the_api_speaks_the_clis_json(console: Served) -> None:
    writer = api(console, token(console, "writer", TokenScope.WRITE))
    writer.post("/cases", json={"urls": [f"http://c.example/{n}" for n in range(5)], "reference": "R-7"})
    listed = writer.get("/cases", params={"limit": 2})
    assert listed.json()["next_after"] == 2
    following = writer.get("/cases", params={"limit": 2, "after": 2}).json()
    assert [case["id"] for case in following["cases"]] == [3, 4]
    every = writer.get("/cases", params={"limit": 1000}).json()["cases"]
    assert every == [json.loads(line) for line in cli_json(console, "queue", "list").splitlines()]
    shown = writer.get("/cases/3").json()
    record = shown.pop("record")
    assert shown == json.loads(cli_json(console, "case", "show", "3"))
    assert record == {"checks": [], "resolutions": [], "notices": []}
    assert writer.get("/stats", params={"by": "country"}).json() == json.loads(
        cli_json(console, "stats", "--by", "country")
    )
    assert writer.get("/stats", params={"by": "nonsense"}).status_code == 400
    assert writer.get("/cases", params={"state": "nonsense"}).status_code == 422
    assert writer.get("/cases", params={"state": ["queued", "live"]}).status_code == 200
    assert len(writer.get("/cases", params={"reference": "R-7"}).json()["cases"]) == 5
    assert writer.get("/cases", params={"reference": "R-8"}).json()["cases"] == []
    assert writer.get("/cases", params={"country": "Netherlands"}).status_code == 422
    newest = writer.get("/cases", params={"order": "newest", "limit": 2}).json()
    assert [case["id"] for case in newest["cases"]] == [5, 4] and newest["next_after"] == 4
    older = writer.get("/cases", params={"order": "newest", "after": 4}).json()["cases"]
    assert [case["id"] for case in older] == [3, 2, 1]
    dated = {"queued_from": "2026-03-01T09:00:00Z", "queued_before": "2026-03-01T10:00:01+01:00"}
    assert len(writer.get("/cases", params=dated).json()["cases"]) == 5  # all queued at 09:00Z
    dated["queued_before"] = "2026-03-01T10:00:00+01:00"  # 09:00Z: before means before
    assert writer.get("/cases", params=dated).json()["cases"] == []
    later = writer.get("/cases", params={"queued_from": "2026-03-01T09:00:01"}).json()["cases"]
    assert later == []  # a time without an offset is UTC
    assert writer.get("/cases", params={"queued_from": "soon"}).status_code == 422
    assert writer.get("/cases", params={"order": "random"}).status_code == 422


def test_a_revoked_token_is_refused_and_tokens_come_from_the_command_line(console: Served) -> None:
    made = json.loads(cli_json(console, "tokens", "add", "nightly", "--scope", "read"))
    assert made["token"].startswith("tdk_") and made["scope"] == "read"
    client = api(console, made["token"])
    assert client.get("/cases").status_code == 200
    with console.store.session() as session:  # only a hash is kept
        assert session.scalar(select(ApiToken.token_hash)) != made["token"]
    listed = cli_json(console, "tokens", "list")
    assert made["token"] not in listed and '"name": "nightly"' in listed
    cli_json(console, "tokens", "revoke", "nightly")
    assert client.get("/cases").status_code == 401
    app = App(settings=Settings(database_url="unused", actor="t"), clock=console.clock, _store=console.store)
    again = CliRunner().invoke(cli, ["tokens", "add", "nightly", "--scope", "write"], obj=app)
    assert again.exit_code == exitcodes.REFUSED
    assert CliRunner().invoke(cli, ["tokens", "revoke", "nobody"], obj=app).exit_code == exitcodes.NOT_FOUND


def test_the_openapi_description_is_published(console: Served) -> None:
    described = httpx.get(console.url + "/api/v1/openapi.json").json()
    assert described["info"]["title"] == "takedown API"
    assert {
        "/cases",
        "/cases/{case_id}",
        "/cases/{case_id}/withdraw",
        "/cases/{case_id}/recheck",
        "/notices",
        "/notices/{notice_id}",
        "/stats",
    } <= set(described["paths"])


def test_a_write_token_asks_for_a_revisit(console: Served) -> None:
    writer = api(console, token(console, "rechecker", TokenScope.WRITE))
    writer.post("/cases", json={"urls": ["http://rc.example/x"]})
    answer = writer.post("/cases/1/recheck")
    assert answer.status_code == 200 and answer.json()["next_check_at"] == "2026-03-01T09:00:00Z"
    assert writer.post("/cases/7/recheck").status_code == 404
    writer.post("/cases/1/withdraw", json={"reason": "done"})
    assert writer.post("/cases/1/recheck").status_code == 409
    reader = api(console, token(console, "reader", TokenScope.READ))
    assert reader.post("/cases/1/recheck").status_code == 403


def test_the_outbox_is_read_through_the_api_as_the_cli_lists_it(console: Served) -> None:
    writer = api(console, token(console, "writer", TokenScope.WRITE))
    writer.post("/cases", json={"urls": ["http://na.example/1", "http://na.example/2"]})
    rendered = Rendered(
        subject="Please remove", text="Remove http://na.example/1", html="<p>x</p>", language="en"
    )
    message = build_message(
        rendered=rendered,
        sender=("Hotline", "reports@hotline.invalid"), recipient="abuse@na.example",
        message_id="<api-1@hotline.invalid>", date=console.clock.now(), reports=[(1, {"Version": "4"})],
    )  # fmt: skip
    with console.store.session() as session:
        for n, recipient in enumerate(["abuse@na.example", "noc@na.example", "abuse@na.example"], 1):
            enqueue(
                session,
                OutgoingNotice(
                    recipient=recipient, level="initial", message_id=f"<api-{n}@hotline.invalid>",
                    subject="Please remove", role="hosting", party="NA", language="en",
                    message=message.decode("ascii"), case_ids=(1, 2) if n == 1 else (n - 1,),
                ),
                now=console.clock.now(),
            )  # fmt: skip
    reader = api(console, token(console, "reader", TokenScope.READ))
    every = reader.get("/notices").json()
    assert every["notices"] == [
        json.loads(line) for line in cli_json(console, "notices", "list").splitlines()
    ]
    assert [n["id"] for n in every["notices"]] == [3, 2, 1] and every["next_before"] is None
    first = reader.get("/notices", params={"limit": 2}).json()
    assert [n["id"] for n in first["notices"]] == [3, 2] and first["next_before"] == 2
    rest = reader.get("/notices", params={"limit": 2, "before": 2}).json()
    assert [n["id"] for n in rest["notices"]] == [1] and rest["next_before"] is None
    mine = reader.get("/notices", params={"recipient": "ABUSE@na.example"}).json()["notices"]
    assert [n["id"] for n in mine] == [3, 1]
    assert reader.get("/notices", params={"status": "sent"}).json()["notices"] == []
    assert reader.get("/notices", params={"status": "nonsense"}).status_code == 422

    shown = reader.get("/notices/1").json()
    assert shown["case_ids"] == [1, 2] and shown["cases"] == 2 and shown["status"] == "pending"
    assert shown["message"]["text"].strip() == "Remove http://na.example/1"  # as sent, for a script
    assert ["Subject", "Please remove"] in shown["message"]["headers"]
    assert shown["message"]["reports"][0]["content_type"] == "application/json"
    assert reader.get("/notices/99").status_code == 404
    assert api(console, None).get("/notices").status_code == 401
