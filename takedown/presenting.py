"""Turning records into what people and scripts read: JSON-ready dicts and human timestamps."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from takedown.models import Case, Event

CASE_TIMES = (
    "queued_at",
    "first_seen_live_at",
    "last_seen_live_at",
    "last_checked_at",
    "first_notice_at",
    "gone_since",
    "removed_at",
    "closed_at",
    "next_check_at",
    "next_notice_at",
)


def iso(when: datetime | None) -> str | None:
    """ISO 8601 in UTC with a 'Z', to the second: what abuse desks and scripts both read."""
    if when is None:
        return None
    return when.strftime("%Y-%m-%dT%H:%M:%SZ")


def case_summary(case: Case) -> dict[str, Any]:
    return {
        "id": case.id,
        "state": case.state,
        "url": case.url,
        "host": case.host,
        "category": case.category,
        "reference": case.reference,
        "queued_at": iso(case.queued_at),
    }


def case_detail(case: Case) -> dict[str, Any]:
    data: dict[str, Any] = {
        "id": case.id,
        "state": case.state,
        "url": case.url,
        "canonical_url": case.canonical_url,
        "dedup_key": case.dedup_key,
        "host": case.host,
        "category": case.category,
        "reference": case.reference,
        "queued_by": case.queued_by,
        "previous_case_id": case.previous_case_id,
        "fingerprints": [{"algorithm": f.algorithm, "digest": f.digest} for f in case.fingerprints],
    }
    data.update({name: iso(getattr(case, name)) for name in CASE_TIMES})
    data["timeline"] = [event_dict(event) for event in case.events]
    return data


def event_dict(event: Event) -> dict[str, Any]:
    return {
        "at": iso(event.at),
        "actor": event.actor,
        "action": event.action,
        "from_state": event.from_state,
        "to_state": event.to_state,
        "detail": event.detail or {},
    }


def describe_event(event: Event) -> str:
    """One line of a case's timeline, for people."""
    detail = event.detail or {}
    if event.action == "queued":
        text = f"queued ({detail.get('category', '')})"
        if detail.get("reference"):
            text += f", reference {detail['reference']}"
        if detail.get("reopens_case"):
            text += f"; content came back after case {detail['reopens_case']}"
        return text
    if event.action == "reopened_as":
        return f"URL reported again after closing: new case {detail.get('case')}"
    if event.action == "withdrawn":
        return f"withdrawn: {detail.get('reason', '')}"
    moved = f"{event.from_state} -> {event.to_state}" if event.to_state else ""
    extra = ", ".join(f"{key}={value}" for key, value in sorted(detail.items()))
    return " ".join(part for part in (event.action, moved, extra and f"({extra})") if part)
