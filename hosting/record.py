"""The resolution record: who was found to host a URL, kept in the ``hosting`` table.

This module alone writes it, whenever a resolution runs: a notice round records the resolution it
wrote with (the audit trail of each notice), and ``takedown resolve`` records what it found for an
open case (so statistics by network exist before any notice is sent). Statistics group a case by
its latest row, which the case lifecycle keeps on the case (:func:`takedown.cases.record_hosted_at`).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from hosting.resolve import Resolution
from takedown.cases import HostedAt, open_case, record_hosted_at
from takedown.models import Case
from takedown.reports import dedup_hash
from takedown.sql_writes import insert_rows, writing
from takedown.vocabulary import Role

if TYPE_CHECKING:
    from takedown.sql_writes import WriteTarget


def record_resolutions(target: WriteTarget, resolved: Iterable[tuple[int | None, Resolution]]) -> None:
    """One ``hosting`` row per (case id, resolution), in the caller's transaction; in plain SQL,
    since a notice round records thousands at once."""
    rows = [_row(case_id, resolution) for case_id, resolution in resolved]
    with writing(target) as writes:
        insert_rows(
            writes,
            "hosting",
            rows,
            times=("resolved_at", "expires_at"),
            json_columns=("ips", "abuse_contacts", "registrar_abuse", "rdap_sources"),
        )
        # The latest row of each case, on the case, for statistics (the lifecycle writes cases).
        latest = {row["case_id"]: row for row in rows if row["case_id"] is not None}
        record_hosted_at(
            writes,
            [
                HostedAt(case_id, row["network"], row["organisation"], row["asn"], row["country"])
                for case_id, row in latest.items()
            ],
        )


def open_case_for(session: Session, dedup_key: str) -> int | None:
    """The open case for a URL's dedup key (its canonical form), if there is one."""
    found: int | None = session.scalar(
        select(Case.id).where(Case.dedup_hash == dedup_hash(dedup_key), open_case())
    )
    return found


def _row(case_id: int | None, resolution: Resolution) -> dict[str, Any]:
    """What statistics group by, and the audit trail of who was found and where from."""
    network = resolution.network
    route = resolution.route
    hosting = resolution.party(Role.HOSTING) or resolution.party(Role.CDN)
    domain = resolution.domain
    return {
        "case_id": case_id,
        "hostname": resolution.hostname[:255],
        "registered_domain": resolution.registered_domain,
        "ips": list(resolution.addresses) or None,
        "asn": resolution.origin_asn,
        "network": (network.cidrs[0] if network and network.cidrs else None),
        "organisation": ((network.organisation or network.name) if network else None),
        "country": (hosting.country if hosting and hosting.country else resolution.country),
        "abuse_contacts": list(hosting.emails) if hosting else None,
        "registrar": domain.registrar if domain else None,
        "registrar_abuse": list(domain.registrar_abuse.emails) if domain else None,
        "cdn": resolution.cdn.cdn.name if resolution.cdn else None,
        "upstream_asn": route.upstream_asns[0] if route and route.upstream_asns else None,
        "rdap_sources": [p.evidence for p in resolution.parties] or None,
        "resolved_at": resolution.resolved_at,
        "expires_at": None,
    }
