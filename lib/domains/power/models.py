"""The records of 权力运行: approval matters and cases with their paused clocks, enforcement
cases against the discretion standard, the fee catalogue and charges, plans and permits.

Times are UTC epoch seconds (`UtcEpoch`), like the items they feed; pause dates are calendar days
(a pause runs from its start date to its end date, both included)."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Date,
    ForeignKey,
    Integer,
    Numeric,
    String,
    Text,
    UniqueConstraint,
    false,
)
from sqlalchemy.orm import Mapped, mapped_column

from lib.models import Base, UtcEpoch


class Matter(Base):
    """An approval matter (审批事项) of the catalogue, with its unit and its time limits."""

    __tablename__ = "power_matters"
    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(100))
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"), index=True)
    legal_days: Mapped[int] = mapped_column(Integer)  # 法定时限, working days
    promised_days: Mapped[int] = mapped_column(Integer)  # 承诺时限: what is supervised
    correction_days: Mapped[int] = mapped_column(Integer, default=5)  # 补正告知
    extension_days: Mapped[int] = mapped_column(Integer, default=10)  # the one extension's cap
    delivery_days: Mapped[int] = mapped_column(Integer, default=10)  # 送达
    has_fee: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())

    __table_args__ = (
        CheckConstraint("promised_days > 0 and legal_days > 0 and correction_days > 0 and "
                        "extension_days >= 0 and delivery_days > 0", name="ck_power_matters_days"),
    )


class ApprovalCase(Base):
    """An approval case (办件): received → (补正) → accepted or refused → decided → delivered."""

    __tablename__ = "approval_cases"
    id: Mapped[int] = mapped_column(primary_key=True)
    external_id: Mapped[str] = mapped_column(String(48), unique=True)
    matter_id: Mapped[int] = mapped_column(ForeignKey("power_matters.id"), index=True)
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"), index=True)
    region_id: Mapped[int | None] = mapped_column(ForeignKey("regions.id"))
    received_at: Mapped[datetime] = mapped_column(UtcEpoch)
    correction_notice_at: Mapped[datetime | None] = mapped_column(UtcEpoch)
    accepted_at: Mapped[datetime | None] = mapped_column(UtcEpoch)
    extension_days: Mapped[int | None] = mapped_column(Integer)
    extension_approved_at: Mapped[datetime | None] = mapped_column(UtcEpoch)
    decided_at: Mapped[datetime | None] = mapped_column(UtcEpoch)
    decision: Mapped[str | None] = mapped_column(String(8))  # grant / refuse
    reason: Mapped[str | None] = mapped_column(Text)
    delivered_at: Mapped[datetime | None] = mapped_column(UtcEpoch)
    updated_at: Mapped[datetime | None] = mapped_column(UtcEpoch)

    __table_args__ = (
        CheckConstraint("decision is null or decision in ('grant','refuse')",
                        name="ck_approval_cases_decision"),
    )


class ApprovalPause(Base):
    """A special procedure (听证、招标、拍卖、检验、检测、检疫、鉴定、专家评审) that stops the clock
    from its start date to its end date, both included."""

    __tablename__ = "approval_pauses"
    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("approval_cases.id", ondelete="CASCADE"),
                                         index=True)
    kind: Mapped[str] = mapped_column(String(12))
    reason: Mapped[str] = mapped_column(Text)
    start_date: Mapped[date] = mapped_column(Date)
    end_date: Mapped[date] = mapped_column(Date)

    __table_args__ = (
        UniqueConstraint("case_id", "start_date", name="uq_approval_pauses_case_start"),
        CheckConstraint("end_date >= start_date", name="ck_approval_pauses_dates"),
    )


class DiscretionStandard(Base):
    """A violation's discretion standard (行政处罚裁量基准): the band a penalty must lie in."""

    __tablename__ = "power_discretion"
    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(100))
    min_amount: Mapped[Decimal] = mapped_column(Numeric(18, 2))
    max_amount: Mapped[Decimal] = mapped_column(Numeric(18, 2))
    decision_days: Mapped[int] = mapped_column(Integer, default=90)  # natural days from filing


class EnforcementCase(Base):
    """A law-enforcement case (行政执法): filed → investigated → told → (hearing) → decided →
    executed/closed."""

    __tablename__ = "enforcement_cases"
    id: Mapped[int] = mapped_column(primary_key=True)
    external_id: Mapped[str] = mapped_column(String(48), unique=True)
    standard_id: Mapped[int] = mapped_column(ForeignKey("power_discretion.id"), index=True)
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"), index=True)
    region_id: Mapped[int | None] = mapped_column(ForeignKey("regions.id"))
    filed_at: Mapped[datetime] = mapped_column(UtcEpoch)
    told_at: Mapped[datetime | None] = mapped_column(UtcEpoch)
    hearing_at: Mapped[datetime | None] = mapped_column(UtcEpoch)
    decided_at: Mapped[datetime | None] = mapped_column(UtcEpoch)
    penalty: Mapped[Decimal | None] = mapped_column(Numeric(18, 2))
    reason: Mapped[str | None] = mapped_column(Text)
    closed_at: Mapped[datetime | None] = mapped_column(UtcEpoch)


class FeeItem(Base):
    """An item of the administrative fee catalogue (行政事业性收费目录)."""

    __tablename__ = "fee_items"
    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(100))
    basis: Mapped[str] = mapped_column(String(200))  # legal basis
    standard: Mapped[Decimal] = mapped_column(Numeric(18, 2))  # yuan per unit charged
    valid_from: Mapped[date] = mapped_column(Date)
    valid_to: Mapped[date | None] = mapped_column(Date)  # abolished after this day


class FeeCharge(Base):
    """A fee charged (收费记录), checked against the catalogue."""

    __tablename__ = "fee_charges"
    id: Mapped[int] = mapped_column(primary_key=True)
    external_id: Mapped[str] = mapped_column(String(48), unique=True)
    fee_code: Mapped[str] = mapped_column(String(32))  # as charged: may be in no catalogue
    fee_name: Mapped[str] = mapped_column(String(100))
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"), index=True)
    region_id: Mapped[int | None] = mapped_column(ForeignKey("regions.id"))
    charged_at: Mapped[datetime] = mapped_column(UtcEpoch)
    quantity: Mapped[int] = mapped_column(Integer, default=1)
    amount: Mapped[Decimal] = mapped_column(Numeric(18, 2))
    case_ref: Mapped[str | None] = mapped_column(String(48), index=True)  # an approval case


class Plan(Base):
    """An approved detailed plan (控制性详细规划) with its indicators."""

    __tablename__ = "planning_plans"
    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(100))
    region_id: Mapped[int | None] = mapped_column(ForeignKey("regions.id"))
    far_max: Mapped[Decimal] = mapped_column(Numeric(8, 2))  # 容积率上限
    density_max: Mapped[Decimal] = mapped_column(Numeric(8, 2))  # 建筑密度上限 %
    green_min: Mapped[Decimal] = mapped_column(Numeric(8, 2))  # 绿地率下限 %
    height_max: Mapped[Decimal] = mapped_column(Numeric(8, 2))  # 建筑限高 m
    changed_on: Mapped[date | None] = mapped_column(Date)  # last change of the plan
    change_hearing: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())


class PlanningPermit(Base):
    """A planning permit (建设工程规划许可证) with the indicators it allows."""

    __tablename__ = "planning_permits"
    id: Mapped[int] = mapped_column(primary_key=True)
    external_id: Mapped[str] = mapped_column(String(48), unique=True)
    plan_id: Mapped[int] = mapped_column(ForeignKey("planning_plans.id"), index=True)
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"), index=True)
    region_id: Mapped[int | None] = mapped_column(ForeignKey("regions.id"))
    project: Mapped[str] = mapped_column(String(100))
    issued_at: Mapped[datetime] = mapped_column(UtcEpoch)
    far: Mapped[Decimal] = mapped_column(Numeric(8, 2))
    density: Mapped[Decimal] = mapped_column(Numeric(8, 2))
    green: Mapped[Decimal] = mapped_column(Numeric(8, 2))
    height: Mapped[Decimal] = mapped_column(Numeric(8, 2))
