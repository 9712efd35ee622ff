"""Database models (SQLAlchemy 2.0 declarative).

One table of supervised items (`items`) is fed by every domain; domain details (key projects and
their nodes, accountability records, village disclosure counts) sit beside it. Times are stored
as UTC epoch seconds so that the traffic-light rule is plain integer arithmetic, identical in
SQLite and PostgreSQL (see `lib.lights.light_sql`).
"""

from __future__ import annotations

from datetime import UTC, date, datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Date,
    Float,
    ForeignKey,
    Index,
    Integer,
    Numeric,
    SmallInteger,
    String,
    Text,
    false,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship
from sqlalchemy.types import TypeDecorator


class UtcEpoch(TypeDecorator):
    """An aware datetime in Python, integer seconds since the epoch (UTC) in the database."""

    impl = BigInteger
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if isinstance(value, int):
            return value
        if value.tzinfo is None:
            raise ValueError("naive datetime given for a UTC column; attach a time zone first")
        return int(value.timestamp())

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        return datetime.fromtimestamp(int(value), tz=UTC)


class Base(DeclarativeBase):
    pass


class Region(Base):
    """City, county-level units (with adcodes), towns (乡镇) and administrative villages (行政村)."""

    __tablename__ = "regions"
    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(12), unique=True)
    name: Mapped[str] = mapped_column(String(64))
    level: Mapped[str] = mapped_column(String(10), index=True)  # city / county / town / village
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("regions.id"), index=True)

    __table_args__ = (
        CheckConstraint("level in ('city','county','town','village')", name="ck_regions_level"),
    )


class Unit(Base):
    """A responsible unit: a municipal department or a county-level one."""

    __tablename__ = "units"
    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(16), unique=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    level: Mapped[str] = mapped_column(String(10))  # municipal / county
    region_id: Mapped[int] = mapped_column(ForeignKey("regions.id"), index=True)
    region: Mapped[Region] = relationship()


class Post(Base):
    __tablename__ = "posts"
    id: Mapped[int] = mapped_column(primary_key=True)
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"), index=True)
    name: Mapped[str] = mapped_column(String(64))


class Person(Base):
    __tablename__ = "people"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(32))
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"), index=True)
    post_id: Mapped[int | None] = mapped_column(ForeignKey("posts.id"))
    rank: Mapped[str] = mapped_column(String(16))  # 处级 / 科级 / 科员


class Domain(Base):
    """One of the six supervision domains (六个方面)."""

    __tablename__ = "domains"
    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(16), unique=True)
    name: Mapped[str] = mapped_column(String(32))
    sort_order: Mapped[int] = mapped_column(Integer, default=0)


class Subsystem(Base):
    """A subsystem (子系统) with its default time limit and light thresholds."""

    __tablename__ = "subsystems"
    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(16), unique=True)
    name: Mapped[str] = mapped_column(String(32))
    domain_id: Mapped[int] = mapped_column(ForeignKey("domains.id"), index=True)
    limit_value: Mapped[int] = mapped_column(Integer)
    limit_unit: Mapped[str] = mapped_column(String(2))  # wd (working days) / d / h
    # Yellow when an open item has less than this share (in %) of its allowed time left.
    yellow_pct: Mapped[int] = mapped_column(Integer, default=20)
    sort_order: Mapped[int] = mapped_column(Integer, default=0)
    domain: Mapped[Domain] = relationship()

    __table_args__ = (
        CheckConstraint("limit_unit in ('wd','d','h')", name="ck_subsystems_unit"),
        CheckConstraint("limit_value > 0", name="ck_subsystems_limit"),
        CheckConstraint("yellow_pct >= 0 and yellow_pct <= 100", name="ck_subsystems_yellow"),
    )


# Items whose times contradict each other: rollups leave them to the base table (lib.rollups).
ODD_SQL = ("deadline < received_at OR completed_at < received_at OR deadline < 0 "
           "OR completed_at < 0")
VERDICT_RED_SQL = "verdict = 2"
# Items a list shows among the open ones though they may be closed: a rule's card, or missing
# times (grey). With the open items they are the head of every urgent-first list.
STANDOUT_SQL = "verdict <> 0 OR received_at IS NULL OR deadline IS NULL"


class Item(Base):
    """A supervised item (监察事项): one case, task, node or submission of any domain."""

    __tablename__ = "items"
    id: Mapped[int] = mapped_column(primary_key=True)
    external_id: Mapped[str] = mapped_column(String(64), unique=True)
    subsystem_id: Mapped[int] = mapped_column(ForeignKey("subsystems.id"))
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"))
    region_id: Mapped[int | None] = mapped_column(ForeignKey("regions.id"))
    handler_id: Mapped[int | None] = mapped_column(ForeignKey("people.id"))
    title: Mapped[str | None] = mapped_column(String(200))
    received_at: Mapped[datetime | None] = mapped_column(UtcEpoch)
    # Per-item override of the subsystem's limit (each approval matter has its own promise).
    limit_value: Mapped[int | None] = mapped_column(Integer)
    limit_unit: Mapped[str | None] = mapped_column(String(2))
    deadline: Mapped[datetime | None] = mapped_column(UtcEpoch)
    completed_at: Mapped[datetime | None] = mapped_column(UtcEpoch)
    state: Mapped[str] = mapped_column(String(12), default="open")
    updated_at: Mapped[datetime | None] = mapped_column(UtcEpoch)
    # A red card cancelled on appeal (申诉撤销): it leaves the unit's score and the cockpit.
    card_cancelled: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    # The service user's rating of the result (办事结果满意度, 1–5): a case's 好差评, or the
    # citizen's rating of the reply a submission's round produced.
    rating: Mapped[int | None] = mapped_column(Integer)
    rated_at: Mapped[datetime | None] = mapped_column(UtcEpoch)  # the month it counts in
    # A rule's verdict (lib.flags): 0 none, 1 yellow card, 2 red card — a red line crossed or an
    # anomaly found, whatever the clock says. The engine reads it beside the time rule.
    verdict: Mapped[int] = mapped_column(SmallInteger, default=0, server_default=text("0"))

    subsystem: Mapped[Subsystem] = relationship()
    unit: Mapped[Unit] = relationship()

    __table_args__ = (
        CheckConstraint("state in ('open','completed')", name="ck_items_state"),
        CheckConstraint(
            "(state = 'completed') = (completed_at is not null)", name="ck_items_state_completed"
        ),
        CheckConstraint("limit_unit is null or limit_unit in ('wd','d','h')", name="ck_items_unit"),
        CheckConstraint("verdict in (0, 1, 2)", name="ck_items_verdict"),
        Index("ix_items_unit_received", "unit_id", "received_at"),
        Index("ix_items_subsystem", "subsystem_id"),
        Index("ix_items_region", "region_id"),
        Index("ix_items_deadline", "deadline"),
        # Covering (migration 0020): the live reads of items done on a window's partial first
        # and last days read no row.
        Index("ix_items_completed", "completed_at", "unit_id", "subsystem_id", "region_id",
              "received_at", "deadline", "card_cancelled", "verdict"),
        # Ratings by the month they were given: the rated items only (migration 0030).
        Index("ix_items_rated", "rated_at", sqlite_where=text("rated_at IS NOT NULL"),
              postgresql_where=text("rated_at IS NOT NULL")),
        # Covers the cockpit's scan, in its GROUP BY order (see lib.queries.light_counts).
        Index("ix_items_view", "unit_id", "subsystem_id", "region_id", "completed_at",
              "received_at", "deadline", "card_cancelled", "verdict"),
        # The open items, by deadline: the live part of the rollups' answer (lib.rollups) and
        # the sweep's overdue scan read only these, however many closed items the table holds.
        # PostgreSQL: with the ids (migration 0021), so a list's head is read from the index
        # alone (SQLite keeps the id in every index).
        Index("ix_items_open", "deadline", "unit_id", "subsystem_id", "region_id", "received_at",
              "card_cancelled", "verdict", "completed_at",
              sqlite_where=text("completed_at IS NULL"),
              postgresql_where=text("completed_at IS NULL"), postgresql_include=["id"]),
        # The same open items in the order the cockpit's live count groups them (migration
        # 0020): read in it, not sorted on every page.
        Index("ix_items_open_units", "unit_id", "subsystem_id", "region_id", "deadline",
              "received_at", "card_cancelled", "verdict", "completed_at",
              sqlite_where=text("completed_at IS NULL"),
              postgresql_where=text("completed_at IS NULL")),
        # Items given a red card by a rule: the sweep's notices read them without a scan.
        Index("ix_items_verdict_red", "deadline", sqlite_where=text(VERDICT_RED_SQL),
              postgresql_where=text(VERDICT_RED_SQL)),
        # Rule cards and grey items (STANDOUT_SQL): with the open ones, the head of a list.
        Index("ix_items_standout", "deadline", sqlite_where=text(STANDOUT_SQL),
              postgresql_where=text(STANDOUT_SQL)),
        # Items whose times contradict each other (due or done before receipt, or before 1970):
        # always read live.
        Index("ix_items_odd", "unit_id", "subsystem_id", "region_id", "completed_at",
              "received_at", "deadline", "card_cancelled", "verdict",
              sqlite_where=text(ODD_SQL), postgresql_where=text(ODD_SQL)),
    )


class ItemEvent(Base):
    """History of an item's state changes and corrections."""

    __tablename__ = "item_events"
    id: Mapped[int] = mapped_column(primary_key=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("items.id", ondelete="CASCADE"), index=True)
    at: Mapped[datetime] = mapped_column(UtcEpoch)
    kind: Mapped[str] = mapped_column(String(16))  # created / updated / completed / reopened
    from_state: Mapped[str | None] = mapped_column(String(12))
    to_state: Mapped[str | None] = mapped_column(String(12))
    actor: Mapped[str] = mapped_column(String(64))
    note: Mapped[str | None] = mapped_column(Text)


class CalendarOverride(Base):
    """An administrator's correction of the holiday table: this day is (not) a working day."""

    __tablename__ = "calendar_overrides"
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    is_workday: Mapped[bool] = mapped_column(Boolean)
    note: Mapped[str | None] = mapped_column(String(200))


class KeyProject(Base):
    """A key project (重点项目) supervised node by node; its nodes are items."""

    __tablename__ = "key_projects"
    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(16), unique=True)
    name: Mapped[str] = mapped_column(String(100))
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"), index=True)
    region_id: Mapped[int | None] = mapped_column(ForeignKey("regions.id"))
    budget_wan: Mapped[int | None] = mapped_column(BigInteger)  # 万元
    start_date: Mapped[date] = mapped_column(Date)
    due_date: Mapped[date] = mapped_column(Date)
    completed_on: Mapped[date | None] = mapped_column(Date)


class ProjectNode(Base):
    """A node of a key project (立项, 招标, 合同, 进度, 监理, 安全生产, 资金拨付)."""

    __tablename__ = "project_nodes"
    item_id: Mapped[int] = mapped_column(
        ForeignKey("items.id", ondelete="CASCADE"), primary_key=True
    )
    project_id: Mapped[int] = mapped_column(ForeignKey("key_projects.id"), index=True)
    node_type: Mapped[str] = mapped_column(String(8))
    seq: Mapped[int] = mapped_column(Integer)
    planned_start: Mapped[date] = mapped_column(Date)
    planned_end: Mapped[date] = mapped_column(Date)
    percent_done: Mapped[int] = mapped_column(Integer, default=0)

    __table_args__ = (
        CheckConstraint("percent_done between 0 and 100", name="ck_nodes_percent"),
    )


class AccountabilityRecord(Base):
    """A unit criticized (通报批评) or an official held accountable (问责)."""

    __tablename__ = "accountability_records"
    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))  # criticism / accountability
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"), index=True)
    person_id: Mapped[int | None] = mapped_column(ForeignKey("people.id"))
    item_id: Mapped[int | None] = mapped_column(ForeignKey("items.id"))
    decided_on: Mapped[date] = mapped_column(Date)
    measure: Mapped[str] = mapped_column(String(64))
    reason: Mapped[str] = mapped_column(Text)
    notice_id: Mapped[int | None] = mapped_column(ForeignKey("notices.id"))

    __table_args__ = (
        CheckConstraint("kind in ('criticism','accountability')", name="ck_accountability_kind"),
        CheckConstraint(
            "kind <> 'accountability' or person_id is not null", name="ck_accountability_person"
        ),
    )


class VillageDisclosure(Base):
    """Monthly counts of items a village published on 村务e路通 and how often they were read."""

    __tablename__ = "village_disclosures"
    id: Mapped[int] = mapped_column(primary_key=True)
    village_id: Mapped[int] = mapped_column(ForeignKey("regions.id"), index=True)
    month: Mapped[date] = mapped_column(Date)
    party_items: Mapped[int] = mapped_column(Integer, default=0)  # 党务
    village_items: Mapped[int] = mapped_column(Integer, default=0)  # 村务
    finance_items: Mapped[int] = mapped_column(Integer, default=0)  # 财务
    views: Mapped[int] = mapped_column(BigInteger, default=0)

    __table_args__ = (
        Index("ux_village_month", "village_id", "month", unique=True),
        # The cockpit's city-wide totals up to a month, read from the index alone (0020).
        Index("ix_village_disclosures_month", "month", "party_items", "village_items",
              "finance_items", "views"),
    )


class VillageDisclosureMonth(Base):
    """The city's disclosure totals of one month (every village's items and views), kept by
    triggers on `village_disclosures` in the writing transaction (migration 0022): the cockpit
    sums a few dozen months instead of every village's."""

    __tablename__ = "village_disclosure_months"
    month: Mapped[date] = mapped_column(Date, primary_key=True)
    items: Mapped[int] = mapped_column(BigInteger)
    views: Mapped[int] = mapped_column(BigInteger)


class User(Base):
    """A person who signs in. Roles are listed in `lib.access.ROLES`; staff are bound to a unit."""

    __tablename__ = "users"
    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(32), unique=True)
    display_name: Mapped[str] = mapped_column(String(32))
    password_hash: Mapped[str] = mapped_column(String(100))
    roles: Mapped[str] = mapped_column(String(100))  # comma-separated role codes
    unit_id: Mapped[int | None] = mapped_column(ForeignKey("units.id"))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    failed_logins: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[datetime | None] = mapped_column(UtcEpoch)
    password_changed_at: Mapped[datetime | None] = mapped_column(UtcEpoch)
    created_at: Mapped[datetime | None] = mapped_column(UtcEpoch)

    unit: Mapped[Unit | None] = relationship()


class AuditLog(Base):
    """Append-only, hash-chained record of every write (see `lib.audit`)."""

    __tablename__ = "audit_log"
    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(UtcEpoch, index=True)
    actor: Mapped[str] = mapped_column(String(64), index=True)
    action: Mapped[str] = mapped_column(String(40), index=True)
    entity: Mapped[str] = mapped_column(String(40))
    entity_id: Mapped[str | None] = mapped_column(String(64))
    before: Mapped[str | None] = mapped_column(Text)  # JSON
    after: Mapped[str | None] = mapped_column(Text)  # JSON
    # Unique: two writers can never both extend the chain from the same row.
    prev_hash: Mapped[str] = mapped_column(String(64), unique=True)
    hash: Mapped[str] = mapped_column(String(64), unique=True)


class Submission(Base):
    """A report, complaint, consultation or suggestion from the public (网络投诉), answered
    under forced response. Each round the unit owes an answer is an item (`item_id`)."""

    __tablename__ = "submissions"
    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(16), unique=True)  # the citizen's tracking code
    kind: Mapped[str] = mapped_column(String(10))  # report / complaint / consult / suggest
    item_id: Mapped[int] = mapped_column(ForeignKey("items.id"), unique=True)  # current round
    region_id: Mapped[int | None] = mapped_column(ForeignKey("regions.id"))
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"), index=True)  # responsible now
    chosen_unit_id: Mapped[int | None] = mapped_column(ForeignKey("units.id"))
    subject: Mapped[str] = mapped_column(String(100))
    body: Mapped[str] = mapped_column(Text)
    anonymous: Mapped[bool] = mapped_column(Boolean, default=False)
    name_enc: Mapped[str | None] = mapped_column(Text)  # encrypted (lib.privacy)
    contact_enc: Mapped[str | None] = mapped_column(Text)  # encrypted
    status: Mapped[str] = mapped_column(String(16), index=True)
    ack_deadline: Mapped[datetime | None] = mapped_column(UtcEpoch)
    acknowledged_at: Mapped[datetime | None] = mapped_column(UtcEpoch)
    reply: Mapped[str | None] = mapped_column(Text)
    replied_at: Mapped[datetime | None] = mapped_column(UtcEpoch)
    first_reply_late: Mapped[bool | None] = mapped_column(Boolean)
    answered_at: Mapped[datetime | None] = mapped_column(UtcEpoch)  # review passed: public
    rating: Mapped[int | None] = mapped_column(Integer)
    rating_comment: Mapped[str | None] = mapped_column(Text)
    rated_at: Mapped[datetime | None] = mapped_column(UtcEpoch)
    # The rating PIN's salted hash (submissions.pin_hash); None: made before PINs, rated by code.
    rating_pin_hash: Mapped[str | None] = mapped_column(String(64))
    rework_count: Mapped[int] = mapped_column(Integer, default=0)
    return_count: Mapped[int] = mapped_column(Integer, default=0)
    handoff_count: Mapped[int] = mapped_column(Integer, default=0)
    published: Mapped[bool] = mapped_column(Boolean, default=False)
    public_question: Mapped[str | None] = mapped_column(Text)
    public_answer: Mapped[str | None] = mapped_column(Text)
    source_hash: Mapped[str | None] = mapped_column(String(64), index=True)
    version: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[datetime] = mapped_column(UtcEpoch, index=True)
    updated_at: Mapped[datetime] = mapped_column(UtcEpoch)

    __table_args__ = (
        CheckConstraint("kind in ('report','complaint','consult','suggest')", name="ck_sub_kind"),
        CheckConstraint("rating is null or rating between 1 and 5", name="ck_sub_rating"),
    )
    __mapper_args__ = {"version_id_col": version}


class SubmissionEvent(Base):
    __tablename__ = "submission_events"
    id: Mapped[int] = mapped_column(primary_key=True)
    submission_id: Mapped[int] = mapped_column(ForeignKey("submissions.id", ondelete="CASCADE"),
                                               index=True)
    at: Mapped[datetime] = mapped_column(UtcEpoch)
    actor: Mapped[str] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(24))
    from_unit_id: Mapped[int | None] = mapped_column(ForeignKey("units.id"))
    to_unit_id: Mapped[int | None] = mapped_column(ForeignKey("units.id"))
    note: Mapped[str | None] = mapped_column(Text)


class RoutingRule(Base):
    """Sends submissions to a unit by kind, keyword and region; the lowest priority number first."""

    __tablename__ = "routing_rules"
    id: Mapped[int] = mapped_column(primary_key=True)
    priority: Mapped[int] = mapped_column(Integer, default=100)
    kind: Mapped[str | None] = mapped_column(String(10))
    keyword: Mapped[str | None] = mapped_column(String(40))
    region_id: Mapped[int | None] = mapped_column(ForeignKey("regions.id"))
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"))
    active: Mapped[bool] = mapped_column(Boolean, default=True)


class ExtensionRequest(Base):
    __tablename__ = "extension_requests"
    id: Mapped[int] = mapped_column(primary_key=True)
    submission_id: Mapped[int] = mapped_column(ForeignKey("submissions.id", ondelete="CASCADE"),
                                               index=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("items.id"))
    requested_by: Mapped[str] = mapped_column(String(64))
    requested_at: Mapped[datetime] = mapped_column(UtcEpoch)
    days: Mapped[int] = mapped_column(Integer)  # working days
    reason: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(10), default="pending")  # pending/granted/refused
    decided_by: Mapped[str | None] = mapped_column(String(64))
    decided_at: Mapped[datetime | None] = mapped_column(UtcEpoch)
    decision_note: Mapped[str | None] = mapped_column(Text)


class ContentPage(Base):
    """Hot issues and policies on the public portal, edited by administrators."""

    __tablename__ = "content_pages"
    id: Mapped[int] = mapped_column(primary_key=True)
    category: Mapped[str] = mapped_column(String(10))  # hot / policy
    title: Mapped[str] = mapped_column(String(100))
    body: Mapped[str] = mapped_column(Text)
    published: Mapped[bool] = mapped_column(Boolean, default=True)
    updated_at: Mapped[datetime] = mapped_column(UtcEpoch)
    updated_by: Mapped[str] = mapped_column(String(64))


class AppSetting(Base):
    """Small settings administrators change (e.g. the acknowledgement limit)."""

    __tablename__ = "app_settings"
    key: Mapped[str] = mapped_column(String(40), primary_key=True)
    value: Mapped[str] = mapped_column(String(200))


class Notice(Base):
    """A supervision notice (督办通知书) to the unit responsible for a red item.

    One per item and crossing (the deadline it crossed): the unique constraint, not Python,
    makes the sweep exactly-once however many processes run it."""

    __tablename__ = "notices"
    id: Mapped[int] = mapped_column(primary_key=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("items.id"), index=True)
    crossing: Mapped[int] = mapped_column(BigInteger)  # the deadline crossed, epoch seconds
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"), index=True)  # lead unit
    assisting: Mapped[str | None] = mapped_column(String(200))  # assisting units
    source: Mapped[str] = mapped_column(String(40))
    matter: Mapped[str] = mapped_column(Text)
    requirements: Mapped[str] = mapped_column(Text)
    reply_due: Mapped[datetime] = mapped_column(UtcEpoch)
    status: Mapped[str] = mapped_column(String(12))
    level: Mapped[int] = mapped_column(Integer, default=1)
    issued_at: Mapped[datetime] = mapped_column(UtcEpoch)
    issued_by: Mapped[str] = mapped_column(String(64))
    acknowledged_at: Mapped[datetime | None] = mapped_column(UtcEpoch)
    rectification: Mapped[str | None] = mapped_column(Text)
    rectified_at: Mapped[datetime | None] = mapped_column(UtcEpoch)
    closed_at: Mapped[datetime | None] = mapped_column(UtcEpoch)
    escalated_at: Mapped[datetime | None] = mapped_column(UtcEpoch)

    __table_args__ = (
        Index("ux_notice_item_crossing", "item_id", "crossing", unique=True),
        # Every read by status, and the sweep's escalation (issued, below the top level, reply
        # date passed) without reading the notices already at the top (migration 0024).
        Index("ix_notices_status_level", "status", "level", "reply_due"),
        CheckConstraint("level between 1 and 3", name="ck_notice_level"),
    )


class NoticeEvent(Base):
    __tablename__ = "notice_events"
    id: Mapped[int] = mapped_column(primary_key=True)
    notice_id: Mapped[int] = mapped_column(ForeignKey("notices.id", ondelete="CASCADE"), index=True)
    at: Mapped[datetime] = mapped_column(UtcEpoch)
    actor: Mapped[str] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(16))
    level: Mapped[int] = mapped_column(Integer)
    note: Mapped[str | None] = mapped_column(Text)


class Appeal(Base):
    """A unit's appeal (申诉) against a red card; an inspector upholds or cancels the card."""

    __tablename__ = "appeals"
    id: Mapped[int] = mapped_column(primary_key=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("items.id"), index=True)
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"), index=True)
    reason: Mapped[str] = mapped_column(Text)
    evidence: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(10))  # pending / upheld / cancelled
    filed_by: Mapped[str] = mapped_column(String(64))
    filed_at: Mapped[datetime] = mapped_column(UtcEpoch)
    decided_by: Mapped[str | None] = mapped_column(String(64))
    decided_at: Mapped[datetime | None] = mapped_column(UtcEpoch)
    decision_note: Mapped[str | None] = mapped_column(Text)


class NodeUpdate(Base):
    """A key-project node's progress report, with the light it earned then (for the rule
    'two yellows in a row are red')."""

    __tablename__ = "node_updates"
    id: Mapped[int] = mapped_column(primary_key=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("project_nodes.item_id", ondelete="CASCADE"),
                                         index=True)
    at: Mapped[datetime] = mapped_column(UtcEpoch)
    actor: Mapped[str] = mapped_column(String(64))
    percent_done: Mapped[int] = mapped_column(Integer)
    behind_pp: Mapped[int] = mapped_column(Integer)  # percentage points behind plan
    light: Mapped[str] = mapped_column(String(8))
    note: Mapped[str | None] = mapped_column(Text)


class Evaluation(Base):
    """An online evaluation (网上测评) of a unit's service by a member of the public (1–5)."""

    __tablename__ = "evaluations"
    id: Mapped[int] = mapped_column(primary_key=True)
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"))
    at: Mapped[datetime] = mapped_column(UtcEpoch)
    rating: Mapped[int] = mapped_column(Integer)
    comment: Mapped[str | None] = mapped_column(Text)
    source_hash: Mapped[str | None] = mapped_column(String(64), index=True)

    __table_args__ = (
        CheckConstraint("rating between 1 and 5", name="ck_evaluations_rating"),
        Index("ix_evaluations_unit_at", "unit_id", "at"),
    )


class RankingSnapshot(Base):
    """A published ranking (定期公布): frozen rows, the scheme used, and the hash over both.

    Database triggers refuse UPDATE and DELETE: once published, a period's ranking never changes."""

    __tablename__ = "ranking_snapshots"
    id: Mapped[int] = mapped_column(primary_key=True)
    period: Mapped[str] = mapped_column(String(8))  # 2026-11 / 2026-Q3 / 2026
    level: Mapped[str] = mapped_column(String(8))  # unit / post / person
    as_of: Mapped[datetime] = mapped_column(UtcEpoch)
    published_at: Mapped[datetime] = mapped_column(UtcEpoch)
    published_by: Mapped[str] = mapped_column(String(64))
    scheme: Mapped[str] = mapped_column(Text)  # JSON
    rows: Mapped[str] = mapped_column(Text)  # JSON
    hash: Mapped[str] = mapped_column(String(64), unique=True)

    __table_args__ = (
        Index("ux_ranking_period_level", "period", "level", unique=True),
        CheckConstraint("level in ('unit','post','person')", name="ck_ranking_level"),
    )


class Flag(Base):
    """What a domain rule found (lib.flags): one row per rule and subject, with the inputs and
    thresholds it used, so the "why" is data. A verdict flag is also an item (`item_id`) that
    carries the card through the one light engine to notices, appeals and scores."""

    __tablename__ = "flags"
    id: Mapped[int] = mapped_column(primary_key=True)
    domain: Mapped[str] = mapped_column(String(16))
    code: Mapped[str] = mapped_column(String(24))  # the rule's stable code, e.g. MKT-R018
    subject: Mapped[str] = mapped_column(String(64))  # the case, tender or payment it concerns
    item_id: Mapped[int] = mapped_column(ForeignKey("items.id"), unique=True)
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"), index=True)
    light: Mapped[str] = mapped_column(String(8))  # red / yellow
    amount: Mapped[float | None] = mapped_column(Numeric(18, 2))  # money at stake, yuan
    reason: Mapped[str] = mapped_column(Text)
    inputs: Mapped[str] = mapped_column(Text)  # JSON
    thresholds: Mapped[str] = mapped_column(Text)  # JSON
    at: Mapped[datetime] = mapped_column(UtcEpoch)  # when the line was crossed
    first_seen: Mapped[datetime] = mapped_column(UtcEpoch)
    last_seen: Mapped[datetime] = mapped_column(UtcEpoch)
    # open → confirmed (with the amount recovered) or dismissed (with the reason); withdrawn
    # when corrected data no longer fires the rule.
    status: Mapped[str] = mapped_column(String(12), default="open")
    decided_by: Mapped[str | None] = mapped_column(String(64))
    decided_at: Mapped[datetime | None] = mapped_column(UtcEpoch)
    decision_note: Mapped[str | None] = mapped_column(Text)
    recovered: Mapped[float | None] = mapped_column(Numeric(18, 2))

    __table_args__ = (
        Index("ux_flags_code_subject", "code", "subject", unique=True),
        Index("ix_flags_domain_status", "domain", "status"),
        CheckConstraint("light in ('red','yellow')", name="ck_flags_light"),
        CheckConstraint("status in ('open','confirmed','dismissed','withdrawn')",
                        name="ck_flags_status"),
    )


class ImportRun(Base):
    """One import (from a file or a front-database sync): who, when, what kind, what happened,
    and the SHA-256 of what was read — the import history of the 数据接入 page."""

    __tablename__ = "import_runs"
    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(UtcEpoch, index=True)
    actor: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(24))
    source: Mapped[str] = mapped_column(String(100))  # the file's name, or sync:<source name>
    sha256: Mapped[str | None] = mapped_column(String(64))
    rows: Mapped[int] = mapped_column(Integer, default=0)
    created: Mapped[int] = mapped_column(Integer, default=0)
    updated: Mapped[int] = mapped_column(Integer, default=0)
    unchanged: Mapped[int] = mapped_column(Integer, default=0)
    refused: Mapped[int] = mapped_column(Integer, default=0)
    status: Mapped[str] = mapped_column(String(8))  # ok / failed
    message: Mapped[str | None] = mapped_column(Text)

    __table_args__ = (CheckConstraint("status in ('ok','failed')", name="ck_import_runs_status"),)


class SyncSource(Base):
    """A subsystem's front database (前置库) the platform pulls from: a connection, a table, the
    kind its rows are, how its columns map to the kind's, and the watermark of the last batch
    written (an updated-at column or a rising id)."""

    __tablename__ = "sync_sources"
    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    subsystem: Mapped[str | None] = mapped_column(String(16))
    url: Mapped[str] = mapped_column(String(300))  # any SQLAlchemy URL
    table: Mapped[str] = mapped_column(String(100))
    kind: Mapped[str] = mapped_column(String(24))
    mapping: Mapped[str] = mapped_column(Text)  # JSON: kind column -> front table column
    watermark_column: Mapped[str] = mapped_column(String(64))
    watermark: Mapped[str | None] = mapped_column(String(64))  # last value written
    batch_size: Mapped[int] = mapped_column(Integer, default=5000)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    last_run_at: Mapped[datetime | None] = mapped_column(UtcEpoch)
    last_status: Mapped[str | None] = mapped_column(Text)


class ForumPost(Base):
    """A thread (thread_id null, with a title) or a reply on the public forum (互动论坛). Every
    post waits for an inspector (pending); only approved posts are public. A rejected or hidden
    post keeps the reason it was given (lib.forum)."""

    __tablename__ = "forum_posts"
    id: Mapped[int] = mapped_column(primary_key=True)
    thread_id: Mapped[int | None] = mapped_column(ForeignKey("forum_posts.id"), index=True)
    topic: Mapped[str | None] = mapped_column(String(10))  # a thread's board; null for replies
    title: Mapped[str | None] = mapped_column(String(60))
    body: Mapped[str] = mapped_column(Text)
    nickname: Mapped[str] = mapped_column(String(20))
    source_hash: Mapped[str | None] = mapped_column(String(64), index=True)
    status: Mapped[str] = mapped_column(String(10), default="pending")
    reason: Mapped[str | None] = mapped_column(Text)  # why rejected or hidden
    created_at: Mapped[datetime] = mapped_column(UtcEpoch, index=True)
    moderated_at: Mapped[datetime | None] = mapped_column(UtcEpoch)
    moderated_by: Mapped[str | None] = mapped_column(String(64))
    version: Mapped[int] = mapped_column(Integer, default=1)

    __table_args__ = (
        Index("ix_forum_posts_status", "status", "created_at"),
        CheckConstraint("status in ('pending','approved','rejected','hidden')",
                        name="ck_forum_posts_status"),
    )


class ForumReport(Base):
    """A citizen's report of a public post (举报不良信息): one per source and post."""

    __tablename__ = "forum_reports"
    id: Mapped[int] = mapped_column(primary_key=True)
    post_id: Mapped[int] = mapped_column(ForeignKey("forum_posts.id"), index=True)
    category: Mapped[str] = mapped_column(String(10))
    note: Mapped[str | None] = mapped_column(Text)
    source_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UtcEpoch)
    status: Mapped[str] = mapped_column(String(10), default="open")  # open / handled
    handled_by: Mapped[str | None] = mapped_column(String(64))
    handled_at: Mapped[datetime | None] = mapped_column(UtcEpoch)

    __table_args__ = (
        Index("ux_forum_reports_post_source", "post_id", "source_hash", unique=True),
        CheckConstraint("status in ('open','handled')", name="ck_forum_reports_status"),
    )


class SensitiveWord(Base):
    """A word the forum refuses (敏感词), kept by administrators."""

    __tablename__ = "sensitive_words"
    id: Mapped[int] = mapped_column(primary_key=True)
    word: Mapped[str] = mapped_column(String(30), unique=True)
    added_by: Mapped[str] = mapped_column(String(64))
    added_at: Mapped[datetime] = mapped_column(UtcEpoch)


class Poll(Base):
    """A vote on a policy or a service (投票评价), opened by an administrator or an inspector."""

    __tablename__ = "polls"
    id: Mapped[int] = mapped_column(primary_key=True)
    subject: Mapped[str] = mapped_column(String(10))  # policy / service
    title: Mapped[str] = mapped_column(String(100))
    description: Mapped[str] = mapped_column(Text)
    created_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UtcEpoch)
    closes_at: Mapped[datetime] = mapped_column(UtcEpoch)
    closed_at: Mapped[datetime | None] = mapped_column(UtcEpoch)  # closed early by hand
    closed_by: Mapped[str | None] = mapped_column(String(64))

    __table_args__ = (CheckConstraint("subject in ('policy','service')", name="ck_polls_subject"),)


class PollOption(Base):
    __tablename__ = "poll_options"
    id: Mapped[int] = mapped_column(primary_key=True)
    poll_id: Mapped[int] = mapped_column(ForeignKey("polls.id"), index=True)
    position: Mapped[int] = mapped_column(Integer)
    label: Mapped[str] = mapped_column(String(40))


class PollVote(Base):
    """One vote: the unique index makes it one per source (hashed address) per poll, even when
    two requests race."""

    __tablename__ = "poll_votes"
    id: Mapped[int] = mapped_column(primary_key=True)
    poll_id: Mapped[int] = mapped_column(ForeignKey("polls.id"))
    option_id: Mapped[int] = mapped_column(ForeignKey("poll_options.id"), index=True)
    source_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UtcEpoch)

    __table_args__ = (Index("ux_poll_votes_poll_source", "poll_id", "source_hash", unique=True),)

class RollupCell(Base):
    """Counts of items whose light can no longer change (lib.rollups), per unit, subsystem and
    region, in buckets of `size` days (1, 8, 64 and 16,384) by the local day of
    completion (kind 'c': closed) or of the deadline (kind 'o': open past the sweep's
    watermark). n items, of them red, yellow ('near') and grey, as the light rule counts them."""

    __tablename__ = "rollup_cells"
    # Clustered by the key in SQLite: a window's cells are read as contiguous ranges.
    __table_args__ = {"sqlite_with_rowid": False}
    kind: Mapped[str] = mapped_column(String(1), primary_key=True)
    size: Mapped[int] = mapped_column(SmallInteger, primary_key=True)
    bucket: Mapped[int] = mapped_column(Integer, primary_key=True)
    unit_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    subsystem_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    region_id: Mapped[int] = mapped_column(Integer, primary_key=True)  # -1: none
    n: Mapped[int] = mapped_column(Integer)
    red: Mapped[int] = mapped_column(Integer)
    near: Mapped[int] = mapped_column(Integer)
    grey: Mapped[int] = mapped_column(Integer)


class RollupPending(Base):
    """Counts of the open items not yet past the sweep's watermark (lib.rollups), per unit,
    local day of the deadline, subsystem and region, and by what their light at a moment T
    depends on: the local day their light turns yellow by the clock (`near_day`; -1 where the
    clock does not make it yellow), the local day of receipt when it came after the watermark
    the cell was counted at (`recv_day`; -1: received by then), and the item's class (`cls`:
    0 the clock's light, 1 grey, 2 card cancelled on appeal, 3 red verdict, 4 yellow verdict).
    At T, every cell whose days all differ from T's local day gives its items' light without
    reading them; the few items turning yellow, due or received on T's day are read live.
    Only days after the watermark's (`rollup_state.overdue_until`) have cells."""

    __tablename__ = "rollup_pending"
    __table_args__ = {"sqlite_with_rowid": False}
    unit_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    due_day: Mapped[int] = mapped_column(Integer, primary_key=True)
    subsystem_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    region_id: Mapped[int] = mapped_column(Integer, primary_key=True)  # -1: none
    near_day: Mapped[int] = mapped_column(Integer, primary_key=True)
    recv_day: Mapped[int] = mapped_column(Integer, primary_key=True)
    cls: Mapped[int] = mapped_column(SmallInteger, primary_key=True)
    n: Mapped[int] = mapped_column(Integer)


class RollupDirty(Base):
    """(kind, unit, local day) whose cells a write has made stale: written by database triggers
    on items in the writing transaction; read live until `lib.rollups.maintain` recomputes."""

    __tablename__ = "rollup_dirty"
    kind: Mapped[str] = mapped_column(String(1), primary_key=True)
    unit_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    day: Mapped[int] = mapped_column(Integer, primary_key=True)


class RollupChange(Base):
    """Each version of an item a write removed (sign -1) or made (sign +1), as the month-end
    snapshots and the assessment's monthly figures read it: written by database triggers on
    items in the writing transaction (migration 0026), so the sweep adds what the write changed
    to the kept figures (`lib.rollups.maintain`) instead of judging the unit's items again."""

    __tablename__ = "rollup_changes"
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer(), "sqlite"),
                                    primary_key=True)
    sign: Mapped[int] = mapped_column(SmallInteger)
    item_id: Mapped[int] = mapped_column(Integer)
    unit_id: Mapped[int] = mapped_column(Integer)
    subsystem_id: Mapped[int] = mapped_column(Integer)
    region_id: Mapped[int | None] = mapped_column(Integer)
    handler_id: Mapped[int | None] = mapped_column(Integer)
    received_at: Mapped[int | None] = mapped_column(BigInteger)  # epoch seconds, as in items
    deadline: Mapped[int | None] = mapped_column(BigInteger)
    completed_at: Mapped[int | None] = mapped_column(BigInteger)
    card_cancelled: Mapped[bool] = mapped_column(Boolean)
    verdict: Mapped[int] = mapped_column(SmallInteger)


class RollupState(Base):
    """One row: whether the rollups are built, and the overdue watermark (open items due before
    it are counted in the 'o' cells)."""

    __tablename__ = "rollup_state"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    built: Mapped[bool] = mapped_column(Boolean, default=False)
    overdue_until: Mapped[int] = mapped_column(BigInteger, default=0)
    maintained_at: Mapped[int | None] = mapped_column(BigInteger)
    # Month-end snapshots exist for every month-start day D in [snap_from, snap_until] (local day
    # numbers; the snapshot of D is the city at 23:59:59 of the day before D). NULL: none built.
    snap_from: Mapped[int | None] = mapped_column(Integer)
    snap_until: Mapped[int | None] = mapped_column(Integer)
    # The assessment's monthly figures exist for every month (yyyymm) in [score_from, score_until].
    score_from: Mapped[int | None] = mapped_column(Integer)
    score_until: Mapped[int | None] = mapped_column(Integer)


class ScoreMonth(Base):
    """The assessment's figures of a unit's items for a finished month (lib.scoring): the items
    due that month, each judged at the month's end, as `scoring.judge` judges them."""

    __tablename__ = "rollup_score_months"
    __table_args__ = {"sqlite_with_rowid": False}
    month: Mapped[int] = mapped_column(Integer, primary_key=True)  # yyyymm, local time
    unit_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    items: Mapped[int] = mapped_column(Integer)
    cases: Mapped[int] = mapped_column(Integer)
    on_time: Mapped[int] = mapped_column(Integer)
    red: Mapped[int] = mapped_column(Integer)
    yellow: Mapped[int] = mapped_column(Integer)
    eff_n: Mapped[int] = mapped_column(Integer)
    eff_sum: Mapped[float] = mapped_column(Float)


class ScoreHandlerMonth(Base):
    """The same figures per handler (migration 0023): the items with a handler of a unit due in
    a finished month, by handler, so posts and persons are ranked from kept rows too. A post's
    figures are its handlers' summed through the people's current posts."""

    __tablename__ = "rollup_score_handlers"
    __table_args__ = {"sqlite_with_rowid": False}
    month: Mapped[int] = mapped_column(Integer, primary_key=True)  # yyyymm, local time
    unit_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    handler_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    items: Mapped[int] = mapped_column(Integer)
    cases: Mapped[int] = mapped_column(Integer)
    on_time: Mapped[int] = mapped_column(Integer)
    red: Mapped[int] = mapped_column(Integer)
    yellow: Mapped[int] = mapped_column(Integer)
    eff_n: Mapped[int] = mapped_column(Integer)
    eff_sum: Mapped[float] = mapped_column(Float)


class RollupSnapshot(Base):
    """The open set at a month's end (lib.rollups): per unit, subsystem and region, how many
    items were open at 23:59:59 of the month's last day, and of them grey, red (overdue) and
    yellow ('near') then. `day` is the local day number of the next month's first day."""

    __tablename__ = "rollup_snapshots"
    __table_args__ = {"sqlite_with_rowid": False}
    day: Mapped[int] = mapped_column(Integer, primary_key=True)
    unit_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    subsystem_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    region_id: Mapped[int] = mapped_column(Integer, primary_key=True)  # -1: none
    n: Mapped[int] = mapped_column(Integer)
    grey: Mapped[int] = mapped_column(Integer)
    overdue: Mapped[int] = mapped_column(Integer)
    near: Mapped[int] = mapped_column(Integer)
