"""The sandbox worlds and helpers that several test modules share.

``NOTICES_HOSTS`` and friends describe the notices world: hosting networks at three registries, a
CDN, a network with no abuse contact and one whose registry answer tries header injection. The
``internet`` and ``world`` fixtures in ``conftest.py`` run it; :func:`make_live` puts cases in it.
"""

from __future__ import annotations

from datetime import timedelta

from hosting.factory import resolver_from_settings
from notices.compose import Composer
from notices.render import NoticeRenderer
from sandbox import Autnum, Network, Registration
from takedown.clock import ManualClock
from takedown.intake import queue_batch
from takedown.reports import Report, validate_report
from takedown.revisits import Fetch, record_fetches
from takedown.settings import Settings
from takedown.store import Store
from tests.closing import closed_after_test

NOTICES_HOSTS = {
    "host-a.test": "127.0.40.1",
    "host-b.test": "127.0.41.1",
    "edge.sandcdn.test": "127.0.42.1",
    "nomail.test": "127.0.43.1",
    "evil.test": "127.0.44.1",
}
NOTICES_NETWORKS = [
    Network("127.0.40.0/24", "ripe", "Alpha Hosting B.V.", "NL", abuse="abuse@host-a.test", asn=64540),
    Network("127.0.41.0/24", "arin", "Beta Web Services", "US", abuse="abuse@host-b.test", asn=64541),
    Network("127.0.42.0/24", "apnic", "SandCDN Pty Ltd", "AU", abuse="abuse@sandcdn.test", asn=64499),
    Network("127.0.43.0/24", "ripe", "Silent Hosting", "DE", asn=64543),
    Network(
        "127.0.44.0/24",
        "ripe",
        "Evil Hosting",
        "ZZ",
        abuse="abuse@evil.test\r\nBcc: victim@other.test",
        asn=64544,
    ),
]
NOTICES_AUTNUMS = [
    Autnum(64540, "ripe", "ALPHA", "Alpha Hosting B.V.", "NL", "abuse@host-a.test", peers=(64550,)),
    Autnum(64550, "ripe", "TRANSIT", "Transit Carrier plc", "GB", "abuse@transit.test"),
]
NOTICES_REGISTRATIONS = [
    Registration("nomail.test", "Example Registrar, Inc.", "9991", "abuse@registrar.test"),
    Registration("host-a.test", "Example Registrar, Inc.", "9991", "abuse@registrar.test"),
]


def composer(store: Store, settings: Settings, clock: ManualClock) -> Composer:
    """A composer over the sandbox; its resolver is closed when the test ends."""
    resolver = closed_after_test(resolver_from_settings(settings, store=store, clock=clock))
    return Composer(store, resolver, settings, NoticeRenderer())


def make_live(store: Store, clock: ManualClock, urls: dict[str, str]) -> dict[str, int]:
    """Queue ``urls`` (URL -> address it was served from) and record a live revisit of each."""
    with store.session() as session:
        results = queue_batch(
            session,
            [validate_report(Report(url, reference=f"HL-{n}")) for n, url in enumerate(urls, 1)],
            actor="analyst:test",
            now=clock.now(),
        )
    ids = {url: result.case_id for url, result in zip(urls, results, strict=True)}
    clock.advance(timedelta(minutes=5))
    with store.session() as session:
        record_fetches(
            session,
            [
                Fetch(
                    ids[url],
                    clock.now(),
                    http_status=200,
                    final_url=url,
                    connected_ip=address,
                    sha256="ab" * 32,
                    md5="cd" * 16,
                    size_bytes=1234,
                )
                for url, address in urls.items()
            ],
        )
    return ids
