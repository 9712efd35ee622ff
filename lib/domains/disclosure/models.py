"""信息公开 records: village disclosures (村务e路通) and their obligations, villagers' questions,
and government information disclosure (政府信息公开) requests and duties.

Every supervised step is an item (`items`): a village's obligation for a period, a question the
village owes an answer to, a request's answer, a proactive disclosure, an annual report. These
tables hold what the item does not: the village, category and period, the text people read,
the request's pauses, extension and correction.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Date,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    false,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from lib.models import Base, UtcEpoch


class VillageProfile(Base):
    """A village's disclosure rhythm: finances monthly where transactions are many."""

    __tablename__ = "village_profiles"
    village_id: Mapped[int] = mapped_column(ForeignKey("regions.id"), primary_key=True)
    finance_monthly: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())


class VillageObligation(Base):
    """What a village owes for a period and category (党务, 村务, 财务, 重大事项); its item
    carries the deadline and the publication (completed_at: the first disclosure)."""

    __tablename__ = "village_obligations"
    item_id: Mapped[int] = mapped_column(ForeignKey("items.id", ondelete="CASCADE"),
                                         primary_key=True)
    village_id: Mapped[int] = mapped_column(ForeignKey("regions.id"), index=True)
    category: Mapped[str] = mapped_column(String(8))  # party / village / finance / major
    period: Mapped[str] = mapped_column(String(10))  # 2026-H1 / 2026-Q3 / 2026-09 / 2026-09-14
    due_on: Mapped[date] = mapped_column(Date)

    __table_args__ = (
        Index("ux_village_obligation", "village_id", "category", "period", unique=True),
        CheckConstraint("category in ('party','village','finance','major')",
                        name="ck_village_obligations_category"),
    )


class Disclosure(Base):
    """A disclosure people can read: title, category, period, body, and for finances a table of
    income and spending (JSON rows); views counted on the portal."""

    __tablename__ = "disclosures"
    id: Mapped[int] = mapped_column(primary_key=True)
    external_id: Mapped[str] = mapped_column(String(64), unique=True)
    village_id: Mapped[int] = mapped_column(ForeignKey("regions.id"))
    category: Mapped[str] = mapped_column(String(8))
    period: Mapped[str] = mapped_column(String(10))
    title: Mapped[str] = mapped_column(String(200))
    body: Mapped[str | None] = mapped_column(Text)
    finance: Mapped[str | None] = mapped_column(Text)  # JSON [{"item", "income", "spending"}]
    published_at: Mapped[datetime] = mapped_column(UtcEpoch)
    published_by: Mapped[str] = mapped_column(String(64))
    views: Mapped[int] = mapped_column(BigInteger, default=0, server_default=text("0"))

    __table_args__ = (
        Index("ix_disclosures_village", "village_id", "category", "period"),
        CheckConstraint("category in ('party','village','finance','major')",
                        name="ck_disclosures_category"),
    )


class DisclosureQuestion(Base):
    """A villager's question on a disclosure; the village owes an answer within 10 days (its
    item: no answer is a red card)."""

    __tablename__ = "disclosure_questions"
    id: Mapped[int] = mapped_column(primary_key=True)
    disclosure_id: Mapped[int] = mapped_column(ForeignKey("disclosures.id"), index=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("items.id"), unique=True)
    question: Mapped[str] = mapped_column(Text)
    asked_at: Mapped[datetime] = mapped_column(UtcEpoch)
    source_hash: Mapped[str | None] = mapped_column(String(64))
    answer: Mapped[str | None] = mapped_column(Text)
    answered_at: Mapped[datetime | None] = mapped_column(UtcEpoch)
    answered_by: Mapped[str | None] = mapped_column(String(64))


class InfoRequest(Base):
    """A request for government information (依申请公开) with its tracking code; its item is
    the answer due (20 working days, moved by the pauses, the extension and the correction)."""

    __tablename__ = "info_requests"
    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(16), unique=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("items.id"), unique=True)
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"), index=True)
    subject: Mapped[str] = mapped_column(String(100))
    body: Mapped[str] = mapped_column(Text)
    name_enc: Mapped[str | None] = mapped_column(Text)  # encrypted (lib.privacy)
    contact_enc: Mapped[str | None] = mapped_column(Text)
    source_hash: Mapped[str | None] = mapped_column(String(64))
    received_at: Mapped[datetime] = mapped_column(UtcEpoch)
    # received → correction (awaiting the applicant) → received … → answered
    status: Mapped[str] = mapped_column(String(12))
    correction_note: Mapped[str | None] = mapped_column(Text)
    correction_at: Mapped[datetime | None] = mapped_column(UtcEpoch)
    corrected_at: Mapped[datetime | None] = mapped_column(UtcEpoch)  # the clock restarts here
    extension_days: Mapped[int | None] = mapped_column(Integer)
    extension_approver: Mapped[str | None] = mapped_column(String(32))
    extension_reason: Mapped[str | None] = mapped_column(Text)
    extension_at: Mapped[datetime | None] = mapped_column(UtcEpoch)
    answer_type: Mapped[str | None] = mapped_column(String(12))
    answer_reason: Mapped[str | None] = mapped_column(Text)
    answer: Mapped[str | None] = mapped_column(Text)
    answered_at: Mapped[datetime | None] = mapped_column(UtcEpoch)

    __table_args__ = (
        CheckConstraint("status in ('received','correction','answered')",
                        name="ck_info_requests_status"),
        CheckConstraint("extension_days is null or extension_days between 1 and 20",
                        name="ck_info_requests_extension"),
    )


class InfoRequestPause(Base):
    """Time not counted: waiting for a consulted third party (15 working days to reply) or
    another organ."""

    __tablename__ = "info_request_pauses"
    id: Mapped[int] = mapped_column(primary_key=True)
    request_id: Mapped[int] = mapped_column(ForeignKey("info_requests.id", ondelete="CASCADE"),
                                            index=True)
    kind: Mapped[str] = mapped_column(String(12))  # third_party / organ
    party: Mapped[str] = mapped_column(String(100))
    started_at: Mapped[datetime] = mapped_column(UtcEpoch)
    ended_at: Mapped[datetime | None] = mapped_column(UtcEpoch)

    __table_args__ = (
        CheckConstraint("kind in ('third_party','organ')", name="ck_info_request_pauses_kind"),
    )


class GovinfoDuty(Base):
    """A unit's proactive disclosure (within 20 working days of the information being formed
    or changed) or annual report (departments by 31 January, the government by 31 March)."""

    __tablename__ = "govinfo_duties"
    item_id: Mapped[int] = mapped_column(ForeignKey("items.id", ondelete="CASCADE"),
                                         primary_key=True)
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"), index=True)
    kind: Mapped[str] = mapped_column(String(10))  # proactive / annual
    title: Mapped[str] = mapped_column(String(200))
    formed_at: Mapped[datetime | None] = mapped_column(UtcEpoch)
    year: Mapped[int | None] = mapped_column(Integer)
    government: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())

    __table_args__ = (
        CheckConstraint("kind in ('proactive','annual')", name="ck_govinfo_duties_kind"),
    )
