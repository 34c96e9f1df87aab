"""The reporting portal over HTTP, as a visitor's browser (or a robot) meets it: served for real on
loopback, in the visitor's language, anonymous, small, and hard to abuse."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import func, select

from faces.console.serve import serving
from faces.portal.app import create_portal_app
from faces.portal.catalogues import problems, used_messages
from faces.portal.config import PortalSettings
from faces.portal.i18n import catalogue_path, negotiate
from faces.portal.limits import RotatingLimiter
from takedown.clock import ManualClock
from takedown.intake import queue_batch
from takedown.models import Case, Event, PortalReport, PortalUrl, ReporterAddress
from takedown.portals import LANGUAGES
from takedown.reports import Report, validate_report
from takedown.store import Store

REFERENCE = re.compile(r'<strong class="reference">(R-[A-Z2-7]{10})</strong>')


def served(store: Store, clock: ManualClock, **settings: object) -> Iterator[httpx.Client]:
    app = create_portal_app(store, clock=clock, settings=PortalSettings(**settings))  # type: ignore[arg-type]
    with serving(app) as url, httpx.Client(base_url=url, timeout=10) as client:
        yield client


@pytest.fixture
def visitor(portal_store: Store, clock: ManualClock) -> Iterator[httpx.Client]:
    yield from served(portal_store, clock)


def send(client: httpx.Client, path: str = "/ke/", **fields: str) -> httpx.Response:
    return client.post(path, data={"content": "images", **fields})


def test_each_page_is_in_the_visitors_language_small_and_self_contained(visitor: httpx.Client) -> None:
    swahili = visitor.get("/ke/", headers={"Accept-Language": "sw-KE, en;q=0.5"})
    assert swahili.status_code == 200 and '<html lang="sw">' in swahili.text
    assert "Anwani za tovuti (moja kwa kila mstari)" in swahili.text  # translated, not the English
    assert "Web addresses" not in swahili.text
    french = visitor.get("/ke/", params={"lang": "fr"}, headers={"Accept-Language": "sw"})  # the switch wins
    assert "Adresses web (une par ligne)" in french.text and "Kenya" in french.text
    assert 'href="/ke/?lang=sw"' in french.text and 'href="/ke/?lang=en"' in french.text
    unoffered = visitor.get("/ke/", headers={"Accept-Language": "pt-BR, pt;q=0.9"})
    assert '<html lang="en">' in unoffered.text  # Kenya's portal speaks no Portuguese: its first language
    mozambique = visitor.get("/", headers={"Host": "denuncia.example.mz"})  # a portal on its own host
    assert '<html lang="pt">' in mozambique.text and "Linha Fala Criança" in mozambique.text
    assert "Moçambique" in mozambique.text  # the country's name in the visitor's language

    pages = [swahili, french, unoffered, mozambique, visitor.get("/"), visitor.get("/nowhere/")]
    pages += [visitor.get("/static/portal.css"), visitor.get("/static/portal.js")]
    for page in pages:
        assert len(page.content) < 50_000
        assert "set-cookie" not in page.headers
    for page in pages[:6]:
        assert page.headers["content-security-policy"].startswith("default-src 'none'; script-src 'self'")
        assert page.headers["cache-control"] == "no-store"
        assert not re.search(r'(?:src|href|action)="(?:https?:)?//', page.text), "nothing from another site"
    assert pages[5].status_code == 404 and "There is no reporting page here." in pages[5].text
    wrong_method = visitor.put("/ke/", headers={"Accept-Language": "fr"})
    assert wrong_method.status_code == 405 and "Le signalement n'a pas pu être lu." in wrong_method.text
    assert wrong_method.headers["content-type"].startswith("text/html")


def test_a_report_gets_a_reference_and_the_page_never_says_what_became_of_it(
    visitor: httpx.Client, portal_store: Store, clock: ManualClock
) -> None:
    with portal_store.session() as session:
        queue_batch(
            session, [validate_report(Report("http://chased.example/a.jpg"))], actor="t", now=clock.now()
        )
    clock.advance(timedelta(seconds=37))
    pages = {
        "new": send(
            visitor,
            urls="http://new.example/x.jpg\nwww.pasted.example/y.jpg",
            found_where="a forum",
            details="seen today",
            lang="fr",
            address="reporter@example.org",
        ),
        "already open": send(visitor, urls="http://chased.example/a.jpg", lang="fr"),
        "repeat": send(visitor, urls="http://new.example/x.jpg", lang="fr"),
    }
    references = {}
    for name, page in pages.items():
        assert page.status_code == 200, name
        assert "Merci : votre signalement a été reçu" in page.text
        [references[name]] = REFERENCE.findall(page.text)
    shown = {REFERENCE.sub("", page.text) for page in pages.values()}
    assert len(shown) == 1, "the three thank-you pages differ only in their reference"
    with portal_store.session() as session:
        kept = {row.reference: row for row in session.scalars(select(PortalReport))}
        assert set(kept) == set(references.values())
        first = kept[references["new"]]
        assert (first.found_where, first.details, first.content) == ("a forum", "seen today", "images")
        assert first.received_at == clock.now().replace(second=0)  # to the minute, no finer
        states = session.execute(select(PortalUrl.url, PortalUrl.state).order_by(PortalUrl.id)).all()
        assert [tuple(row) for row in states] == [
            ("http://new.example/x.jpg", "awaiting_revisit"),
            ("http://www.pasted.example/y.jpg", "awaiting_revisit"),  # pasted without http://
            ("http://chased.example/a.jpg", "already_open"),
            ("http://new.example/x.jpg", "repeat"),
        ]
        left = session.execute(
            select(ReporterAddress.report_id, ReporterAddress.address, ReporterAddress.language)
        ).one()
        assert tuple(left) == (first.id, "reporter@example.org", "fr")  # apart, for the acknowledgement
        again = session.scalars(select(Event.detail).where(Event.action == "reported_again")).one()
        assert again == {"report": references["already open"]}


def test_what_needs_fixing_is_said_in_the_visitors_language_and_nothing_is_kept(
    visitor: httpx.Client, portal_store: Store
) -> None:
    page = visitor.post(
        "/ke/",
        data={
            "urls": "ftp://files.example/a\nhttp://exa mple.example/\nhttp://fine.example/ok.jpg",
            "lang": "sw",
            "details": "x" * 2001,
            "address": "not an address",
        },
    )
    assert page.status_code == 400
    for expected in (
        "Ni anwani za tovuti zinazoanza na http:// au https:// pekee",  # the scheme
        "Hii haionekani kuwa anwani ya tovuti",  # not a URL
        "Chagua kile ambacho maudhui yanaonyesha.",  # no content chosen
        "Maelezo: herufi zisizozidi 2000, tafadhali.",  # too long
        "Hii haionekani kuwa anwani ya barua pepe.",
    ):
        assert expected in page.text
    assert "http://fine.example/ok.jpg" in page.text, "what they wrote is kept in the form to fix"
    too_many = send(visitor, urls="\n".join(f"http://many.example/{n}" for n in range(21)), lang="en")
    assert too_many.status_code == 400 and "at most 20 web addresses" in too_many.text
    nothing = send(visitor, urls="  \n ", lang="fr")
    assert "Indiquez au moins une adresse web." in nothing.text
    with portal_store.session() as session:
        assert session.scalar(select(func.count(PortalReport.id))) == 0


def test_abuse_is_refused_in_the_visitors_language(portal_store: Store, clock: ManualClock) -> None:
    for visitor in served(
        portal_store,
        clock,
        reports_per_portal=2,
        reports_overall=3,
        max_body_bytes=4096,
        client_header="X-Forwarded-For",
    ):
        one = {"X-Forwarded-For": "198.51.100.7"}
        assert (
            visitor.post(
                "/ke/", data={"urls": "http://a.example/1", "content": "images"}, headers=one
            ).status_code
            == 200
        )
        assert (
            visitor.post(
                "/ke/", data={"urls": "http://a.example/2", "content": "images"}, headers=one
            ).status_code
            == 200
        )
        limited = visitor.post(
            "/ke/", data={"urls": "http://a.example/3", "content": "images", "lang": "fr"}, headers=one
        )
        assert limited.status_code == 429 and limited.headers["retry-after"] == "3600"
        assert "Trop de signalements ont été envoyés depuis votre connexion." in limited.text
        other_portal = visitor.post(
            "/",
            data={"urls": "http://a.example/4", "content": "images"},
            headers={**one, "Host": "denuncia.example.mz"},
        )
        assert other_portal.status_code == 200  # its own portal limit; the third of three overall
        overall = visitor.post(
            "/",
            data={"urls": "http://a.example/5", "content": "images"},
            headers={**one, "Host": "denuncia.example.mz"},
        )
        assert overall.status_code == 429 and "Foram enviadas demasiadas denúncias" in overall.text
        someone_else = visitor.post(
            "/ke/",
            data={"urls": "http://a.example/6", "content": "images"},
            headers={"X-Forwarded-For": "198.51.100.8"},
        )
        assert someone_else.status_code == 200

        fresh = {"X-Forwarded-For": "198.51.100.9"}
        robot = visitor.post(
            "/ke/",
            data={"urls": "http://spam.example/", "content": "images", "website": "http://x"},
            headers=fresh,
        )
        assert robot.status_code == 200 and REFERENCE.search(robot.text), "a robot is thanked like anyone"
        huge = visitor.post(
            "/ke/?lang=fr",
            data={"urls": "http://big.example/" + "a" * 5000, "content": "images"},
            headers={"X-Forwarded-For": "198.51.100.10"},
        )  # as the form posts it
        assert huge.status_code == 413 and "trop volumineux" in huge.text
        unbounded = visitor.post(
            "/ke/",
            content=iter([b"urls=" + b"a" * 3000, b"b" * 3000]),
            headers={"Content-Type": "application/x-www-form-urlencoded", "X-Forwarded-For": "198.51.100.11"},
        )
        assert unbounded.status_code == 413, "a body with no length is cut off at the limit too"
        not_a_form = visitor.post(
            "/ke/", json={"urls": "http://a.example/7"}, headers={"X-Forwarded-For": "198.51.100.12"}
        )
        assert not_a_form.status_code == 415
        cross_site = visitor.post(
            "/ke/",
            data={"urls": "http://a.example/8", "content": "images"},
            headers={"Origin": "https://elsewhere.example", "X-Forwarded-For": "198.51.100.13"},
        )
        assert cross_site.status_code == 403 and "only be sent from this site" in cross_site.text
    with portal_store.session() as session:
        urls = set(session.scalars(select(PortalUrl.url)))
    assert urls == {"http://a.example/1", "http://a.example/2", "http://a.example/4", "http://a.example/6"}


def test_the_limits_forget_clients_as_their_key_rotates() -> None:
    now = [0.0]
    limiter = RotatingLimiter(per_portal=2, overall=10, window=100.0, clock=lambda: now[0])
    assert limiter.allow("192.0.2.1", "ke") and limiter.allow("192.0.2.1", "ke")
    assert not limiter.allow("192.0.2.1", "ke")
    now[0] = 150.0  # half the last window still weighs: 2 x 0.5 = 1 of 2 used
    assert limiter.allow("192.0.2.1", "ke")
    assert not limiter.allow("192.0.2.1", "ke")
    now[0] = 400.0  # two windows on: forgotten, keys and all
    assert limiter.allow("192.0.2.1", "ke")
    assert limiter.clients() == 2  # this portal's count and the overall one, under today's key
    assert "192.0.2.1" not in repr(vars(limiter))


@given(st.text(max_size=200))
def test_any_accept_language_gives_an_offered_language(header: str) -> None:
    assert negotiate(header, ("sw", "en")) in ("sw", "en")


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("fr-CA,fr;q=0.9", "fr"),
        ("de, *;q=0.1", "sw"),
        ("en;q=0.2, fr;q=0.8", "fr"),
        ("pt;q=0, en", "en"),
        ("", "sw"),
    ],
)
def test_the_browsers_language_is_weighed(header: str, expected: str) -> None:
    assert negotiate(header, ("sw", "en", "fr")) == expected


def test_every_language_translates_every_message(tmp_path: Path) -> None:
    used = used_messages()
    assert "Send the report" in used and "Videos" in used  # from the templates and from the code
    for language in LANGUAGES:
        if language != "en":
            assert problems(language, used) == []
    broken = tmp_path / "fr.po"
    text = catalogue_path("fr").read_text(encoding="utf-8")
    broken.write_text(text.replace('msgstr "Envoyer le signalement"', 'msgstr ""'), encoding="utf-8")
    assert problems("fr", used, broken) == ["fr: no translation of 'Send the report'"]


def test_a_case_opened_from_a_report_is_a_case_like_any_other(
    visitor: httpx.Client, portal_store: Store
) -> None:
    assert send(visitor, urls="http://confirm.example/a.jpg").status_code == 200
    with portal_store.session() as session:
        assert session.scalar(select(func.count(Case.id))) == 0  # never straight to cases
