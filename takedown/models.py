"""The store's tables (SQLAlchemy 2). Schema changes go through Alembic (``takedown/migrations``).

What is deliberately absent: any column that could hold fetched content. A check records the
fingerprint, size and status of what was fetched, never the body.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    Dialect,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship
from sqlalchemy.types import TypeDecorator

from takedown.states import (
    ALL_STATES_SQL,
    CLOSED_CASE_SQL,
    OPEN_CASE_SQL,
    OPEN_STATES,
    CaseState,
)

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator[datetime]):
    """A timestamp that is always UTC: naive values are refused on the way in, aware on the way out.

    SQLite has no time zones, so the value is stored as naive UTC everywhere and the zone restored
    on load; PostgreSQL's ``timestamp with time zone`` would otherwise depend on the session zone.
    """

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(f"refusing naive datetime {value.isoformat()}: every stored time is UTC")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        return None if value is None else value.replace(tzinfo=UTC)

    def result_processor(self, dialect: Dialect, coltype: object) -> Callable[[Any], datetime | None] | None:
        """On SQLite, the stored text straight to an aware time with the C ``fromisoformat``:
        SQLAlchemy's own parser is a regular expression, and was most of the time of reading a
        million cases' dates."""
        if dialect.name != "sqlite":
            return super().result_processor(dialect, coltype)

        def from_text(value: str | None) -> datetime | None:
            return None if value is None else datetime.fromisoformat(value).replace(tzinfo=UTC)

        return from_text


JSONType = JSON().with_variant(JSONB(), "postgresql")


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map: ClassVar[dict[Any, Any]] = {
        datetime: UTCDateTime,
        dict[str, Any]: JSONType,
        list[Any]: JSONType,
    }


SEEN_LIVE = "first_seen_live_at IS NOT NULL"


def _partial(name: str, where: str, *columns: str) -> Index:
    return Index(name, *columns, sqlite_where=text(where), postgresql_where=text(where))


STATISTICS_INDEXES = (
    # Time to removal by network, AS and country (takedown/stats.py): each grouping is one walk of
    # its own index, which holds every column the figures need (covering), over the cases ever
    # seen live (partial), in group order with the removal times sorted inside each group, and the
    # notice rounds last (summed per group; a round rewrites the entry, every few days per case).
    _partial(
        "ix_case_stats_network",
        SEEN_LIVE,
        "state",
        "hosting_network",
        "hosting_organisation",
        "removal_seconds",
        "notice_rounds",
    ),
    _partial("ix_case_stats_asn", SEEN_LIVE, "state", "hosting_asn", "removal_seconds", "notice_rounds"),
    _partial(
        "ix_case_stats_country", SEEN_LIVE, "state", "hosting_country", "removal_seconds", "notice_rounds"
    ),
    _partial("ix_case_removal_seconds", "removal_seconds IS NOT NULL", "removal_seconds"),
    _partial("ix_case_already_gone", "state = 'already_gone'", "id"),
    # Case lists of the rare states (the review queue of changed cases; withdrawn ones): few,
    # however many cases there are, and state has no index of its own.
    _partial("ix_case_changed", "state = 'changed'", "id"),
    _partial("ix_case_withdrawn", "state = 'withdrawn'", "id"),
    # Removals confirmed lately (the dashboard's 30 and 90 days): a range of this index, with the
    # durations in it.
    _partial("ix_case_removed_recently", "removal_seconds IS NOT NULL", "removed_at", "removal_seconds"),
    # The case list's filters, a page at a time in id order; cases not yet resolved (every new one)
    # are not in the hosting ones, so intake does not pay for them.
    _partial("ix_case_reference", "reference IS NOT NULL", "reference", "id"),
    _partial("ix_case_hosting_country", "hosting_country IS NOT NULL", "hosting_country", "id"),
    _partial("ix_case_hosting_asn", "hosting_asn IS NOT NULL", "hosting_asn", "id"),
    _partial("ix_case_hosting_network", "hosting_network IS NOT NULL", "hosting_network", "id"),
    # The same filters between two dates, read in queued-time order: without these, a country's
    # cases were each read from the table to compare their dates (16,666 for one country of a
    # million cases: 1.7 s the first time, before the pages were cached).
    _partial("ix_case_country_queued", "hosting_country IS NOT NULL", "hosting_country", "queued_at", "id"),
    _partial("ix_case_asn_queued", "hosting_asn IS NOT NULL", "hosting_asn", "queued_at", "id"),
    _partial("ix_case_network_queued", "hosting_network IS NOT NULL", "hosting_network", "queued_at", "id"),
    # The case list between two dates, read along this index in queued-time order.
    Index("ix_case_queued_at", "queued_at", "id"),
    # The review queue of cases the chase gave up on: few, however many cases there are.
    Index(
        "ix_case_needs_analyst",
        "id",
        sqlite_where=text("needs_analyst = 1"),  # as SQLAlchemy writes the filter on SQLite
        postgresql_where=text("needs_analyst"),
    ),
)


class Case(Base):
    """One reported URL, from the analyst's confirmation to its confirmed removal."""

    __tablename__ = "case"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    url: Mapped[str] = mapped_column(Text, doc="The URL exactly as reported; what is fetched and notified.")
    canonical_url: Mapped[str] = mapped_column(Text, doc="Safe Browsing canonical form.")
    dedup_key: Mapped[str] = mapped_column(Text, doc="Canonical form plus a non-default port.")
    dedup_hash: Mapped[str] = mapped_column(
        String(64), doc="SHA-256 of dedup_key: indexable at any URL length."
    )
    host: Mapped[str] = mapped_column(String(255), index=True, doc="Hostname in ASCII (punycode).")
    category: Mapped[str] = mapped_column(String(32))
    reference: Mapped[str | None] = mapped_column(String(200))
    classification: Mapped[str | None] = mapped_column(
        String(16), doc="The analyst's grading (baseline, A1, A2, B1, B2), reported in X-ARF."
    )
    # No index on state alone: it has a handful of values, and SQLite's planner would prefer it to
    # the dedup hash and scan every open case on each intake lookup (measured: 60 ms vs 4 ms a batch).
    state: Mapped[str] = mapped_column(String(16))
    queued_by: Mapped[str] = mapped_column(String(200))
    previous_case_id: Mapped[int | None] = mapped_column(
        ForeignKey("case.id"), doc="The closed case this reopens."
    )

    queued_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    first_seen_live_at: Mapped[datetime | None]
    last_seen_live_at: Mapped[datetime | None]
    last_checked_at: Mapped[datetime | None]
    first_notice_at: Mapped[datetime | None]
    notice_rounds: Mapped[int] = mapped_column(
        Integer, default=0, server_default="0", doc="Notice rounds composed: where the case is on the ladder."
    )
    needs_analyst: Mapped[bool] = mapped_column(
        Boolean, default=False, server_default=text("false"), doc="The chase gave up: an analyst must act."
    )
    gone_since: Mapped[datetime | None]
    removed_at: Mapped[datetime | None]
    closed_at: Mapped[datetime | None]
    next_check_at: Mapped[datetime | None]
    next_notice_at: Mapped[datetime | None]
    removal_seconds: Mapped[float | None] = mapped_column(
        Float, doc="First seen live to removed, set when the case closes as removed: the time to removal."
    )
    # Where the case was last resolved to be hosted (its latest ``hosting`` row), kept on the case so
    # that statistics are a grouped read of one index, not a join of a million rows per request.
    hosting_network: Mapped[str | None] = mapped_column(String(64))
    hosting_organisation: Mapped[str | None] = mapped_column(String(300))
    hosting_asn: Mapped[int | None] = mapped_column(Integer)
    hosting_country: Mapped[str | None] = mapped_column(String(2))

    fingerprints: Mapped[list[Fingerprint]] = relationship(
        back_populates="case", cascade="all, delete-orphan", order_by="Fingerprint.id"
    )
    events: Mapped[list[Event]] = relationship(back_populates="case", order_by="Event.id")
    checks: Mapped[list[Check]] = relationship(back_populates="case", order_by="Check.id")

    __table_args__ = (
        CheckConstraint(
            f"state IN ({ALL_STATES_SQL})",
            name="state_known",
        ),
        # At most one open case per URL: the database enforces it, so two concurrent imports
        # cannot both open the same case.
        Index(
            "uq_case_open_dedup_hash",
            "dedup_hash",
            unique=True,
            sqlite_where=text(OPEN_CASE_SQL),
            postgresql_where=text(OPEN_CASE_SQL),
        ),
        # A URL's closed cases (the one a new report reopens), in an index of closed cases only:
        # a new case, always open, is not written to it (migration 0034). A lookup must say
        # CLOSED_CASE_SQL as it is written here for the index to be used.
        _partial("ix_case_closed_dedup_hash", CLOSED_CASE_SQL, "dedup_hash"),
        # Due work is read in (time, id) order a page at a time: each page is one index walk,
        # whatever the backlog (closed cases have no next_*_at, so they are not in the range).
        Index("ix_case_check_due", "next_check_at", "id"),
        # A case has a next notice round only once it is live: a new case is not written here.
        _partial("ix_case_notice_due", "next_notice_at IS NOT NULL", "next_notice_at", "id"),
        *STATISTICS_INDEXES,
    )

    @property
    def is_open(self) -> bool:
        return CaseState(self.state) in OPEN_STATES


class Fingerprint(Base):
    """A hash of the content as assessed by the analyst; a revisit compares against these."""

    __tablename__ = "fingerprint"

    id: Mapped[int] = mapped_column(primary_key=True)
    # Found by case through the unique constraint's index, which starts with case_id (an index of
    # its own on case_id was one more write for every fingerprint; dropped in migration 0034).
    case_id: Mapped[int] = mapped_column(ForeignKey("case.id", ondelete="CASCADE"))
    algorithm: Mapped[str] = mapped_column(String(16))
    digest: Mapped[str] = mapped_column(String(128))

    case: Mapped[Case] = relationship(back_populates="fingerprints")

    __table_args__ = (
        UniqueConstraint("case_id", "algorithm", "digest", name="uq_fingerprint_case_algorithm_digest"),
        CheckConstraint("algorithm IN ('sha256', 'md5')", name="algorithm_known"),
    )


class Check(Base):
    """One revisit of a case. Never the body: only what can be said about it."""

    __tablename__ = "check"

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("case.id"), index=True)
    checked_at: Mapped[datetime]
    outcome: Mapped[str] = mapped_column(String(16))
    http_status: Mapped[int | None]
    final_url: Mapped[str | None] = mapped_column(Text)
    redirect_chain: Mapped[list[Any] | None]
    connected_ip: Mapped[str | None] = mapped_column(String(45))
    sha256: Mapped[str | None] = mapped_column(String(64))
    md5: Mapped[str | None] = mapped_column(String(32))
    sha1: Mapped[str | None] = mapped_column(String(40))
    pdq: Mapped[str | None] = mapped_column(
        String(64), doc="The image's PDQ perceptual hash, when it was one."
    )
    pdq_quality: Mapped[int | None]
    pdq_error: Mapped[str | None] = mapped_column(String(300), doc="Why an image has no PDQ hash.")
    fingerprint_match: Mapped[bool | None] = mapped_column(Boolean)
    size_bytes: Mapped[int | None]
    """Bytes of the decoded body that were hashed (all of it, or the cap when ``truncated``)."""
    truncated: Mapped[bool] = mapped_column(Boolean, default=False)
    declared_length: Mapped[int | None] = mapped_column(BigInteger)
    """The Content-Length the server declared (of the body as sent: encoded, when it was)."""
    content_type: Mapped[str | None] = mapped_column(String(200))
    content_encoding: Mapped[str | None] = mapped_column(String(100))
    etag: Mapped[str | None] = mapped_column(String(300))
    last_modified: Mapped[str | None] = mapped_column(String(100))
    duration_ms: Mapped[int | None]
    error_class: Mapped[str | None] = mapped_column(String(100))
    error_detail: Mapped[str | None] = mapped_column(String(500))

    case: Mapped[Case] = relationship(back_populates="checks")


class Hosting(Base):
    """One resolution of who hosts a name: network, registrar, CDN, upstream, with abuse contacts."""

    __tablename__ = "hosting"

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int | None] = mapped_column(
        ForeignKey("case.id"), index=True, doc="The case it was resolved for, when a notice was composed."
    )
    hostname: Mapped[str] = mapped_column(String(255), index=True)
    registered_domain: Mapped[str | None] = mapped_column(String(255))
    ips: Mapped[list[Any] | None]
    asn: Mapped[int | None]
    network: Mapped[str | None] = mapped_column(String(64), index=True)
    organisation: Mapped[str | None] = mapped_column(String(300))
    country: Mapped[str | None] = mapped_column(String(2))
    abuse_contacts: Mapped[list[Any] | None]
    registrar: Mapped[str | None] = mapped_column(String(300))
    registrar_abuse: Mapped[list[Any] | None]
    cdn: Mapped[str | None] = mapped_column(String(100))
    upstream_asn: Mapped[int | None]
    rdap_sources: Mapped[list[Any] | None]
    resolved_at: Mapped[datetime]
    expires_at: Mapped[datetime | None]


class RdapNetwork(Base):
    """An IP network as a registry's RDAP described it, kept so that every address inside it is
    resolved without asking again until ``expires_at``: the cache is by range, not by address.

    ``start_key``/``end_key`` are the range's bounds as fixed-width hex (8 digits for IPv4, 32 for
    IPv6), so that string comparison is address comparison on every database.
    """

    __tablename__ = "rdap_network"

    id: Mapped[int] = mapped_column(primary_key=True)
    registry_name: Mapped[str] = mapped_column("registry", String(64))
    """Which registry answered (``registry`` itself is SQLAlchemy's)."""
    handle: Mapped[str] = mapped_column(String(255))
    ip_version: Mapped[int] = mapped_column(Integer)
    start_key: Mapped[str] = mapped_column(String(32))
    end_key: Mapped[str] = mapped_column(String(32))
    span_bits: Mapped[int] = mapped_column(Integer)
    """Bits in the range's span (end - start): it starts less than ``2 ** span_bits`` below any
    address it holds, which bounds the search for it (:mod:`hosting.cache`)."""
    record: Mapped[dict[str, Any]]
    fetched_at: Mapped[datetime]
    expires_at: Mapped[datetime]

    __table_args__ = (
        UniqueConstraint("ip_version", "start_key", "end_key", name="uq_rdap_network_range"),
        Index("ix_rdap_network_span", "ip_version", "span_bits", "start_key"),
    )


class RdapDomain(Base):
    """A registered domain's registration as its registry's RDAP described it, or the final "no
    such domain" / "no RDAP for this TLD", kept so that a domain with URLs in every round is asked
    about once until ``expires_at``, not once per round."""

    __tablename__ = "rdap_domain"

    id: Mapped[int] = mapped_column(primary_key=True)
    domain: Mapped[str] = mapped_column(String(253), unique=True)
    record: Mapped[dict[str, Any] | None]
    """:meth:`hosting.rdap.parse.DomainRecord.to_dict`; ``None`` when ``failure`` is set."""
    failure: Mapped[str | None] = mapped_column(String(32))
    """``NotFound`` or ``Unsupported``: answers that asking again before expiry would not change."""
    message: Mapped[str | None] = mapped_column(String(500))
    fetched_at: Mapped[datetime]
    expires_at: Mapped[datetime]


class Contact(Base):
    """An analyst's override in the contact book: it beats what RDAP says."""

    __tablename__ = "contact"

    id: Mapped[int] = mapped_column(primary_key=True)
    scope: Mapped[str] = mapped_column(String(16), doc="What it applies to: asn, network, domain or email.")
    value: Mapped[str] = mapped_column(String(300))
    email: Mapped[str | None] = mapped_column(String(320))
    language: Mapped[str | None] = mapped_column(String(16))
    never_notify: Mapped[bool] = mapped_column(Boolean, default=False)
    bad_since: Mapped[datetime | None]
    note: Mapped[str | None] = mapped_column(Text)
    updated_at: Mapped[datetime]
    updated_by: Mapped[str] = mapped_column(String(200))

    __table_args__ = (
        UniqueConstraint("scope", "value", name="uq_contact_scope_value"),
        CheckConstraint("scope IN ('asn', 'network', 'domain', 'email')", name="scope_known"),
    )


class ContactChange(Base):
    """One change to the contact book, kept for good: who set, barred, removed an entry or had a
    mailbox marked bad by a bounce, when, and what the entry said afterwards."""

    __tablename__ = "contact_change"

    id: Mapped[int] = mapped_column(primary_key=True)
    scope: Mapped[str] = mapped_column(String(16))
    value: Mapped[str] = mapped_column(String(320))
    change: Mapped[str] = mapped_column(String(16), doc="set, barred, removed or bounced.")
    email: Mapped[str | None] = mapped_column(String(320))
    language: Mapped[str | None] = mapped_column(String(16))
    note: Mapped[str | None] = mapped_column(Text)
    at: Mapped[datetime]
    actor: Mapped[str] = mapped_column(String(200))

    __table_args__ = (
        CheckConstraint("change IN ('set', 'barred', 'removed', 'bounced')", name="change_known"),
        Index("ix_contact_change_entry", "scope", "value", "id"),
    )


class Notice(Base):
    """One message to one recipient about one or more cases, written before it is sent."""

    __tablename__ = "notice"

    id: Mapped[int] = mapped_column(primary_key=True)
    recipient: Mapped[str] = mapped_column(String(320), index=True)
    level: Mapped[str] = mapped_column(String(16))
    message_id: Mapped[str] = mapped_column(String(255), unique=True)
    subject: Mapped[str] = mapped_column(String(500))
    status: Mapped[str] = mapped_column(String(16), index=True)
    attempts: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[datetime]
    next_attempt_at: Mapped[datetime | None]
    sent_at: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(String(500))
    role: Mapped[str | None] = mapped_column(String(16), doc="hosting, cdn, site, registrar or upstream.")
    party: Mapped[str | None] = mapped_column(String(300), doc="The organisation the recipient speaks for.")
    language: Mapped[str | None] = mapped_column(String(16))
    claimed_at: Mapped[datetime | None] = mapped_column(
        doc="When a sender took it; a stale claim is recovered."
    )
    claimed_by: Mapped[str | None] = mapped_column(
        String(200), doc="Which sender: host, process, start time."
    )
    message: Mapped[str | None] = mapped_column(
        Text, doc="The whole message as composed (RFC 5322): what is sent is exactly what was recorded."
    )


class NoticeCase(Base):
    """Which cases a notice is about."""

    __tablename__ = "notice_case"

    notice_id: Mapped[int] = mapped_column(ForeignKey("notice.id", ondelete="CASCADE"), primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("case.id"), primary_key=True, index=True)


class Event(Base):
    """The append-only audit log: what happened to a case, when, and who or what did it."""

    __tablename__ = "event"

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("case.id"), index=True)
    at: Mapped[datetime]
    actor: Mapped[str] = mapped_column(String(200))
    action: Mapped[str] = mapped_column(String(32))
    from_state: Mapped[str | None] = mapped_column(String(16))
    to_state: Mapped[str | None] = mapped_column(String(16))
    detail: Mapped[dict[str, Any] | None]

    case: Mapped[Case] = relationship(back_populates="events")


class StaffEvent(Base):
    """The append-only log of what staff did outside cases: signing in and out (and failing to),
    accounts and API tokens made, changed or revoked. Never a password, a code or a token."""

    __tablename__ = "staff_event"

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime]
    actor: Mapped[str] = mapped_column(String(200), doc="Who did it: analyst:<name>, or the CLI's actor.")
    action: Mapped[str] = mapped_column(String(32))
    subject: Mapped[str | None] = mapped_column(String(64), index=True, doc="The account or token acted on.")
    detail: Mapped[dict[str, Any] | None]


class CheckMatch(Base):
    """A check's body matched an entry of a hash list in use: which list (and version) and entry,
    by which digest. The entry's reference only; never the list's other contents."""

    __tablename__ = "check_match"

    id: Mapped[int] = mapped_column(primary_key=True)
    check_id: Mapped[int] = mapped_column(ForeignKey("check.id", ondelete="CASCADE"), index=True)
    list_name: Mapped[str] = mapped_column(String(64))
    list_version: Mapped[str] = mapped_column(String(64))
    algorithm: Mapped[str] = mapped_column(String(16))
    reference: Mapped[str | None] = mapped_column(String(200))
    category: Mapped[str | None] = mapped_column(String(32))
    distance: Mapped[int] = mapped_column(Integer, default=0, server_default="0")


class HashList(Base):
    """A version of a hash list (the IWF's, a partner's): its entries are read only while it is
    ``active``; a new version is loaded beside it and takes its place in one commit."""

    __tablename__ = "hash_list"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(64))
    version: Mapped[str] = mapped_column(String(64))
    state: Mapped[str] = mapped_column(String(16), doc="loading, active or retired.")
    entries: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    imported_at: Mapped[datetime]
    imported_by: Mapped[str] = mapped_column(String(200))
    activated_at: Mapped[datetime | None]

    __table_args__ = (
        CheckConstraint("state IN ('loading', 'active', 'retired')", name="state_known"),
        # One active version per name: the database refuses a second, whatever two imports do.
        Index(
            "uq_hash_list_active_name",
            "name",
            unique=True,
            sqlite_where=text("state = 'active'"),
            postgresql_where=text("state = 'active'"),
        ),
    )


class HashEntry(Base):
    """One fingerprint of confirmed imagery on a list: digests in lowercase hexadecimal, any of
    them; never shown whole to anyone, never logged."""

    __tablename__ = "hash_entry"

    id: Mapped[int] = mapped_column(primary_key=True)
    list_id: Mapped[int] = mapped_column(ForeignKey("hash_list.id", ondelete="CASCADE"))
    md5: Mapped[str | None] = mapped_column(String(32))
    sha1: Mapped[str | None] = mapped_column(String(40))
    sha256: Mapped[str | None] = mapped_column(String(64))
    pdq: Mapped[str | None] = mapped_column(String(64), doc="Meta's PDQ perceptual hash, 256 bits.")
    category: Mapped[str | None] = mapped_column(String(32))
    classification: Mapped[str | None] = mapped_column(String(16))
    reference: Mapped[str | None] = mapped_column(String(200))

    __table_args__ = (
        # Exact lookups are one index probe per digest, whatever the lists' size.
        _partial("ix_hash_entry_md5", "md5 IS NOT NULL", "md5"),
        _partial("ix_hash_entry_sha1", "sha1 IS NOT NULL", "sha1"),
        _partial("ix_hash_entry_sha256", "sha256 IS NOT NULL", "sha256"),
        Index("ix_hash_entry_list", "list_id", "id"),
    )


class Portal(Base):
    """A reporting portal: the public's front door for one country, in its languages, run with a
    partner organisation (the IWF's Reporting Portals are the model)."""

    __tablename__ = "portal"

    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(String(32), unique=True, doc="Its path: /r/<slug>.")
    host: Mapped[str | None] = mapped_column(String(253), unique=True, doc="A host name it answers on.")
    country: Mapped[str] = mapped_column(String(2))
    languages: Mapped[list[Any]] = mapped_column(doc="Language codes, the first the default.")
    partner: Mapped[str] = mapped_column(String(200))
    welcome: Mapped[str | None] = mapped_column(Text)
    help_text: Mapped[str | None] = mapped_column(Text)
    helplines: Mapped[list[Any]] = mapped_column(doc="Local child-protection helplines: name and contact.")
    acknowledgements: Mapped[bool] = mapped_column(
        Boolean, default=False, doc="Reporters may leave an address."
    )
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    updated_by: Mapped[str] = mapped_column(String(200))


class PortalReport(Base):
    """A report made through a portal: what the reporter said, never who they are (no address of
    theirs, no time finer than the report's own)."""

    __tablename__ = "portal_report"

    id: Mapped[int] = mapped_column(primary_key=True)
    portal_id: Mapped[int] = mapped_column(ForeignKey("portal.id"), index=True)
    reference: Mapped[str] = mapped_column(String(16), unique=True, doc="Given to the reporter.")
    received_at: Mapped[datetime]
    content: Mapped[str] = mapped_column(String(32), doc="What the reporter says the content shows.")
    found_where: Mapped[str | None] = mapped_column(String(500))
    details: Mapped[str | None] = mapped_column(Text)


class PortalUrl(Base):
    """One URL of a portal report, on its way through triage to a decision."""

    __tablename__ = "portal_url"

    id: Mapped[int] = mapped_column(primary_key=True)
    report_id: Mapped[int] = mapped_column(ForeignKey("portal_report.id"), index=True)
    url: Mapped[str] = mapped_column(Text)
    dedup_hash: Mapped[str] = mapped_column(String(64), index=True)
    host: Mapped[str | None] = mapped_column(
        String(255), doc="Its host name in ASCII, as a case's: which crawl of several revisits it."
    )
    state: Mapped[str] = mapped_column(String(24))
    case_id: Mapped[int | None] = mapped_column(ForeignKey("case.id"))
    same_as_id: Mapped[int | None] = mapped_column(
        ForeignKey("portal_url.id"), doc="The earlier report of it."
    )
    times_reported: Mapped[int] = mapped_column(Integer, default=1, server_default="1")
    decided_at: Mapped[datetime | None]
    decided_by: Mapped[str | None] = mapped_column(String(200))
    referred_to: Mapped[str | None] = mapped_column(String(2), doc="The country whose hotline it went to.")
    revisit: Mapped[dict[str, Any] | None] = mapped_column(
        doc="What its one revisit saw: outcome, status, reason, digests (never content)."
    )
    matches: Mapped[list[Any] | None] = mapped_column(doc="What the hash lists in use knew of its body.")

    __table_args__ = (
        CheckConstraint(
            "state IN ('awaiting_revisit', 'awaiting_assessment', 'already_open', 'repeat', 'confirmed', "
            "'not_illegal', 'not_found', 'duplicate', 'referred')",
            name="state_known",
        ),
        Index("ix_portal_url_state", "state", "id"),
    )


class ReporterAddress(Base):
    """An address a reporter left for an acknowledgement: kept apart from the report, and deleted
    once the acknowledgement is sent."""

    __tablename__ = "reporter_address"

    id: Mapped[int] = mapped_column(primary_key=True)
    report_id: Mapped[int] = mapped_column(ForeignKey("portal_report.id"), unique=True)
    address: Mapped[str] = mapped_column(String(320))
    language: Mapped[str | None] = mapped_column(String(8), doc="The language the reporter used.")
    acknowledging_at: Mapped[datetime | None] = mapped_column(
        doc="When a sender took it to acknowledge: found set at the next run, the address is deleted "
        "unsent (an acknowledgement is sent at most once)."
    )


class ProviderRevocation(Base):
    """A recipient whose provider links were revoked: every link made for the address before
    ``revoked_at`` is refused (the links themselves are not stored; the server's key checks them)."""

    __tablename__ = "provider_revocation"

    id: Mapped[int] = mapped_column(primary_key=True)
    recipient: Mapped[str] = mapped_column(String(320), unique=True)
    revoked_at: Mapped[datetime]
    revoked_by: Mapped[str] = mapped_column(String(200))


class InboxMessage(Base):
    """Something a hosting provider said: an answer on the provider page that needs an analyst
    ("not ours", "need more information"), or a mail to the notices' reply address (a person's
    reply, an automatic reply, a delivery status notification). What an analyst must read waits
    until one marks it handled; the rest is recorded handled. A mail's attachments are never kept:
    only their names, types, sizes and SHA-256 digests."""

    __tablename__ = "inbox_message"
    __table_args__ = (_partial("ix_inbox_message_waiting", "handled_at IS NULL", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    received_at: Mapped[datetime]
    channel: Mapped[str] = mapped_column(String(16), doc="page or mail")
    kind: Mapped[str] = mapped_column(
        String(32), doc="not_ours, need_information, reply, auto_reply, bounce or unreadable"
    )
    sender: Mapped[str] = mapped_column(String(320))
    notice_id: Mapped[int | None] = mapped_column(
        ForeignKey("notice.id"), doc="The notice it answers, when it could be threaded."
    )
    case_ids: Mapped[list[Any]] = mapped_column(default=list)
    subject: Mapped[str | None] = mapped_column(String(300))
    text: Mapped[str | None] = mapped_column(Text, doc="What they wrote, as text (never rendered).")
    ticket: Mapped[str | None] = mapped_column(String(100))
    attachments: Mapped[list[Any]] = mapped_column(default=list)
    mail_id: Mapped[str | None] = mapped_column(
        String(255), unique=True, doc="The mail's own Message-ID: a mail delivered twice is recorded once."
    )
    problem: Mapped[str | None] = mapped_column(String(300), doc="What was wrong with a mail, if anything.")
    handled_at: Mapped[datetime | None]
    handled_by: Mapped[str | None] = mapped_column(String(200))


class SchedulerLock(Base):
    """The one scheduler allowed to run against this store: who it is and when it last said so."""

    __tablename__ = "scheduler_lock"

    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    owner: Mapped[str] = mapped_column(String(200))
    acquired_at: Mapped[datetime]
    heartbeat_at: Mapped[datetime]
    problem: Mapped[str | None] = mapped_column(
        String(500), doc="What keeps the scheduler from doing its work (notices that cannot be signed)."
    )


class Account(Base):
    """A member of the hotline's staff who signs in to the console. The password is kept only as
    an argon2id hash, the second factor as its TOTP secret."""

    __tablename__ = "account"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    role: Mapped[str] = mapped_column(String(16))
    password_hash: Mapped[str] = mapped_column(String(200))
    totp_secret: Mapped[str | None] = mapped_column(String(64))
    totp_last_step: Mapped[int | None] = mapped_column(
        BigInteger, doc="The last TOTP time step used to sign in: a code is good once."
    )
    failed_logins: Mapped[int] = mapped_column(default=0)
    locked_until: Mapped[datetime | None]
    disabled_at: Mapped[datetime | None]
    created_at: Mapped[datetime]
    password_changed_at: Mapped[datetime]

    __table_args__ = (CheckConstraint("role IN ('analyst', 'auditor', 'supervisor')", name="role_known"),)


class WebSession(Base):
    """A signed-in browser. Only a hash of its cookie is kept, so a copy of the store opens no
    session; ``stage`` is ``second_factor`` between the password and the code."""

    __tablename__ = "web_session"

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("account.id", ondelete="CASCADE"), index=True)
    stage: Mapped[str] = mapped_column(String(16))
    csrf_token: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime]
    last_seen_at: Mapped[datetime]

    __table_args__ = (CheckConstraint("stage IN ('second_factor', 'signed_in')", name="stage_known"),)


class CaseTally(Base):
    """How many cases are in each state, with and without an analyst's attention needed: kept by
    the database's own triggers on ``case`` (migration 0011), so that every writer counts, bulk
    statements included, and a dashboard reads a few rows instead of counting a million.

    On SQLite one row per (state, needs_analyst) is updated in place (one writer at a time). On
    PostgreSQL each statement that moves cases appends its net change as rows of its own (so
    concurrent writers never wait for each other on a counter), and readers fold them together
    from time to time (:func:`takedown.tallies.case_counts`). Either way the count is the sum.
    """

    __tablename__ = "case_tally"

    id: Mapped[int] = mapped_column(primary_key=True)
    state: Mapped[str] = mapped_column(String(16))
    needs_analyst: Mapped[bool] = mapped_column(Boolean)
    cases: Mapped[int] = mapped_column(BigInteger)

    __table_args__ = (Index("ix_case_tally_state", "state", "needs_analyst"),)


class ApiToken(Base):
    """A bearer token for the JSON API (a script, another system, a partner). Only its SHA-256 is
    kept: the token itself is shown once, when it is made."""

    __tablename__ = "api_token"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    scope: Mapped[str] = mapped_column(String(16))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime]
    last_used_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]

    __table_args__ = (CheckConstraint("scope IN ('read', 'write')", name="scope_known"),)
