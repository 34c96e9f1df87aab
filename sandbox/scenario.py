"""Scenarios: what the sandbox internet looks like, and how it changes as things happen to it.

A scenario names the hosts, the DNS records, what each path does at first, and *changes* that
follow events: "host B removes /x after the second notice" is

    {"after": "notice:abuse@host-b.test", "count": 2,
     "host": "host-b.test", "path": "/x", "then": {"status": 404}}

Events are counted by name. The web hosts fire ``fetch:<host><path>`` on every request; the SMTP
sink fires ``notice:<recipient>``; tests and the demo may fire any name they like.
Scenarios are plain JSON so the demo and people can write them; ``{port}`` in a redirect target
stands for the port the web hosts were given.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sandbox.desks import Desk
from sandbox.rdap_server import REGISTRIES, Autnum, Network, Registration
from sandbox.web import Behaviour, Bomb, BrokenChunked, Drop, Endless, Redirect, Serve, Stall, Status

BUNDLED_SCENARIOS = Path(__file__).resolve().parent / "scenarios"


class ScenarioError(ValueError):
    """The scenario file says something the sandbox cannot do; the message says where."""


@dataclass(frozen=True)
class Change:
    """After the ``count``-th ``after`` event: ``path`` on ``host`` behaves as ``then`` (``None``:
    404), and/or DNS ``name`` gets ``records`` (``None``: NXDOMAIN)."""

    after: str
    count: int = 1
    host: str | None = None
    path: str | None = None
    then: Behaviour | None = None
    name: str | None = None
    records: Mapping[str, list[str]] | None = None
    changes_dns: bool = False


@dataclass
class Scenario:
    hosts: dict[str, str]
    records: dict[str, dict[str, list[str]]] = field(default_factory=dict)
    forbidden: dict[str, str] = field(default_factory=dict)
    paths: dict[tuple[str, str], Behaviour | None] = field(default_factory=dict)
    changes: list[Change] = field(default_factory=list)
    networks: list[Network] = field(default_factory=list)
    autnums: list[Autnum] = field(default_factory=list)
    registrations: list[Registration] = field(default_factory=list)
    cdns: list[dict[str, Any]] = field(default_factory=list)
    """CDNs of the scenario's own, in ``hosting/data/cdn.json``'s shape (name, cname_suffixes, asns,
    ranges, abuse, report_url): added to the sandbox's catalogue."""
    desks: list[Desk] = field(default_factory=list)
    """What abuse desks do with their notices (:mod:`sandbox.desks`)."""

    @classmethod
    def load(cls, path: Path) -> Scenario:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as exc:
            raise ScenarioError(f"{path}: {exc}") from None
        return cls.from_dict(data, source=str(path))

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], source: str = "scenario") -> Scenario:
        if not isinstance(data, Mapping) or not isinstance(data.get("hosts"), Mapping) or not data["hosts"]:
            raise ScenarioError(f"{source}: needs a 'hosts' object mapping names to 127.0.0.x addresses")
        unknown = set(data) - {
            "hosts",
            "records",
            "forbidden",
            "paths",
            "changes",
            "description",
            "networks",
            "autnums",
            "domains",
            "cdns",
            "desks",
        }
        if unknown:
            raise ScenarioError(f"{source}: unknown key(s) {', '.join(sorted(unknown))}")
        paths = {
            (host.lower(), path): parse_behaviour(spec, f"{source}: paths.{host}.{path}")
            for host, by_path in data.get("paths", {}).items()
            for path, spec in by_path.items()
        }
        changes = [
            _parse_change(item, f"{source}: changes[{index}]")
            for index, item in enumerate(data.get("changes", []))
        ]
        return cls(
            hosts={name.lower(): address for name, address in data["hosts"].items()},
            records={name.lower(): dict(records) for name, records in data.get("records", {}).items()},
            forbidden={name.lower(): address for name, address in data.get("forbidden", {}).items()},
            paths=paths,
            changes=changes,
            networks=[
                _parse_network(item, f"{source}: networks[{i}]")
                for i, item in enumerate(data.get("networks", []))
            ],
            autnums=[
                _parse_autnum(item, f"{source}: autnums[{i}]")
                for i, item in enumerate(data.get("autnums", []))
            ],
            registrations=[
                _parse_registration(item, f"{source}: domains[{i}]")
                for i, item in enumerate(data.get("domains", []))
            ],
            cdns=[_parse_cdn(item, f"{source}: cdns[{i}]") for i, item in enumerate(data.get("cdns", []))],
            desks=[
                _parse_desk(item, f"{source}: desks[{i}]") for i, item in enumerate(data.get("desks", []))
            ],
        )


def parse_behaviour(spec: Any, where: str) -> Behaviour | None:
    """``{"serve": "img-a"}`` (with ``size``, ``content_type``, ``encoding``: gzip, deflate, br or
    zstd), ``{"status": 410}``, ``{"redirect": "http://h.test:{port}/x"}``, ``{"stall": 10}``,
    ``{"drop": true}``, ``{"endless": true}``, ``{"broken_chunked": true}``, ``{"bomb": "gzip"}``,
    or null."""
    if spec is None:
        return None
    if not isinstance(spec, Mapping):
        raise ScenarioError(f'{where}: a behaviour is an object like {{"serve": "content-id"}}, not {spec!r}')
    try:
        if "serve" in spec:
            encoding = spec.get("encoding")
            if encoding is not None and encoding not in ("gzip", "deflate", "br", "zstd"):
                raise ValueError(f"encoding must be gzip, deflate, br or zstd, not {encoding!r}")
            return Serve(
                str(spec["serve"]),
                int(spec.get("size", 20_000)),
                str(spec.get("content_type", "image/jpeg")),
                encoding=encoding,
            )
        if "status" in spec:
            return Status(int(spec["status"]), str(spec.get("body", "")))
        if "redirect" in spec:
            return Redirect(str(spec["redirect"]), int(spec.get("code", 302)))
        if "stall" in spec:
            return Stall(float(spec["stall"]))
        if spec.get("drop"):
            return Drop()
        if spec.get("endless"):
            return Endless()
        if spec.get("broken_chunked"):
            return BrokenChunked()
        if "bomb" in spec:
            return Bomb(str(spec["bomb"]))
    except (TypeError, ValueError) as exc:
        raise ScenarioError(f"{where}: {exc}") from None
    raise ScenarioError(f"{where}: unknown behaviour {dict(spec)!r}")


def _parse_desk(item: Any, where: str) -> Desk:
    try:
        return Desk.from_dict(item, where)
    except (KeyError, TypeError, ValueError) as exc:
        raise ScenarioError(str(exc) if str(exc).startswith(where) else f"{where}: {exc}") from None


def _parse_change(item: Any, where: str) -> Change:
    if not isinstance(item, Mapping) or not isinstance(item.get("after"), str):
        raise ScenarioError(f"{where}: a change needs 'after' (an event name)")
    count = item.get("count", 1)
    if not isinstance(count, int) or count < 1:
        raise ScenarioError(f"{where}: 'count' must be a whole number from 1")
    has_path = "host" in item and "path" in item
    has_dns = "name" in item
    if not has_path and not has_dns:
        raise ScenarioError(f"{where}: a change needs 'host' and 'path', or 'name' (a DNS change)")
    return Change(
        after=item["after"],
        count=count,
        host=item["host"].lower() if has_path else None,
        path=item["path"] if has_path else None,
        then=parse_behaviour(item.get("then"), f"{where}.then") if has_path else None,
        name=item["name"].lower() if has_dns else None,
        records=item.get("records") if has_dns else None,
        changes_dns=has_dns,
    )


class EventLog:
    """Counts events and says which changes fall due; the sandbox applies them."""

    def __init__(self, changes: list[Change]) -> None:
        self.changes = list(changes)
        self.counts: Counter[str] = Counter()
        self.history: list[str] = []

    def fire(self, event: str) -> list[Change]:
        self.counts[event] += 1
        self.history.append(event)
        return [c for c in self.changes if c.after == event and c.count == self.counts[event]]


def _parse_network(item: Any, where: str) -> Network:
    """``{"cidr": "127.0.0.2/32", "registry": "ripe", "organisation": "...", "abuse": "...",
    "technical": "...", "country": "NL", "asn": 64500}``."""
    try:
        network = Network(
            cidr=str(item["cidr"]),
            registry=str(item["registry"]),
            organisation=str(item["organisation"]),
            country=str(item.get("country", "ZZ")),
            abuse=item.get("abuse"),
            technical=item.get("technical"),
            asn=item.get("asn"),
            name=item.get("name"),
            kind=item.get("type"),
        )
        network.network  # noqa: B018 - validates the CIDR
    except (KeyError, TypeError, ValueError) as exc:
        raise ScenarioError(f"{where}: needs cidr, registry and organisation ({exc})") from None
    _check_registry(network.registry, where)
    return network


def _parse_autnum(item: Any, where: str) -> Autnum:
    try:
        autnum = Autnum(
            asn=int(item["asn"]),
            registry=str(item["registry"]),
            name=str(item.get("name", f"AS{item['asn']}")),
            organisation=str(item["organisation"]),
            country=str(item.get("country", "ZZ")),
            abuse=item.get("abuse"),
            peers=tuple(int(p) for p in item.get("peers", [])),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise ScenarioError(f"{where}: needs asn, registry and organisation ({exc})") from None
    _check_registry(autnum.registry, where)
    return autnum


def _parse_registration(item: Any, where: str) -> Registration:
    try:
        return Registration(
            domain=str(item["domain"]).lower(),
            registrar=str(item["registrar"]),
            iana_id=str(item.get("iana_id", "9999")),
            abuse=item.get("abuse"),
            nameservers=tuple(item.get("nameservers", [])),
        )
    except (KeyError, TypeError) as exc:
        raise ScenarioError(f"{where}: needs domain and registrar ({exc})") from None


def _check_registry(registry: str, where: str) -> None:
    if registry not in REGISTRIES:
        raise ScenarioError(f"{where}: registry must be one of {', '.join(REGISTRIES)}")


_CDN_LISTS = ("cname_suffixes", "asns", "ranges")


def _parse_cdn(item: Any, where: str) -> dict[str, Any]:
    """A CDN as the catalogue describes one; checked for shape here, read by the resolver."""
    if not isinstance(item, Mapping) or not isinstance(item.get("name"), str) or not item["name"].strip():
        raise ScenarioError(
            f'{where}: a CDN is an object with a "name", like {{"name": "MyCDN", "asns": [64498]}}'
        )
    unknown = set(item) - {"name", "abuse", "report_url", *_CDN_LISTS}
    if unknown:
        raise ScenarioError(f"{where}: unknown key(s) {', '.join(sorted(unknown))}")
    for key in _CDN_LISTS:
        if not isinstance(item.get(key, []), list):
            raise ScenarioError(f"{where}: {key} must be a list")
    if not any(item.get(key) for key in _CDN_LISTS):
        raise ScenarioError(f"{where}: give at least one of {', '.join(_CDN_LISTS)} to recognise it by")
    return dict(item)
