"""专项资金's records: programs with their budgets, the payments down to the person paid, the
payees and accounts (identity numbers and account numbers only as keyed hashes and ciphertext),
and the registers the payments are checked against (deaths and closed enterprises; households
and village cadres)."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import CheckConstraint, Date, ForeignKey, Index, Integer, Numeric, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from lib.models import Base, UtcEpoch


class FundProgram(Base):
    """A fund program (资金项目): fund line, unit, year, budget, per-payment standard, monthly cap
    per payee, and the time allowed from approval to payment."""

    __tablename__ = "fund_programs"
    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(24), unique=True)
    name: Mapped[str] = mapped_column(String(100))
    subsystem_id: Mapped[int] = mapped_column(ForeignKey("subsystems.id"), index=True)
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"), index=True)
    year: Mapped[int] = mapped_column(Integer)
    budget: Mapped[float] = mapped_column(Numeric(18, 2))
    standard_amount: Mapped[float | None] = mapped_column(Numeric(18, 2))
    monthly_cap: Mapped[float | None] = mapped_column(Numeric(18, 2))
    pay_within_days: Mapped[int | None] = mapped_column(Integer)

    __table_args__ = (
        CheckConstraint("budget >= 0", name="ck_fund_programs_budget"),
        CheckConstraint("pay_within_days is null or pay_within_days > 0",
                        name="ck_fund_programs_days"),
    )


class FundPayee(Base):
    """A person or an enterprise paid: the identity number (身份证号 / 统一社会信用代码) kept as a
    keyed hash (for matching) and encrypted (for an inspector to read, audited), never in clear."""

    __tablename__ = "fund_payees"
    id: Mapped[int] = mapped_column(primary_key=True)
    id_hash: Mapped[str] = mapped_column(String(64), unique=True)
    id_enc: Mapped[str] = mapped_column(Text)
    name: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(10))  # person / enterprise

    __table_args__ = (CheckConstraint("kind in ('person','enterprise')", name="ck_fund_payees_kind"),)


class FundAccount(Base):
    """A bank or social-security card account paid into: keyed hash and ciphertext only."""

    __tablename__ = "fund_accounts"
    id: Mapped[int] = mapped_column(primary_key=True)
    hash: Mapped[str] = mapped_column(String(64), unique=True)
    enc: Mapped[str] = mapped_column(Text)


class FundPayment(Base):
    """One payment (资金发放): program, paying unit, payee, account, village, amount, approved and
    paid times. Its approval-to-payment step is a supervised item (`item_id`) the engine lights."""

    __tablename__ = "fund_payments"
    id: Mapped[int] = mapped_column(primary_key=True)
    external_id: Mapped[str] = mapped_column(String(56), unique=True)
    program_id: Mapped[int] = mapped_column(ForeignKey("fund_programs.id"), index=True)
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"), index=True)
    payee_id: Mapped[int] = mapped_column(ForeignKey("fund_payees.id"), index=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("fund_accounts.id"), index=True)
    village_id: Mapped[int | None] = mapped_column(ForeignKey("regions.id"), index=True)
    amount: Mapped[float] = mapped_column(Numeric(18, 2))
    approved_at: Mapped[datetime] = mapped_column(UtcEpoch)
    paid_at: Mapped[datetime | None] = mapped_column(UtcEpoch)
    item_id: Mapped[int] = mapped_column(ForeignKey("items.id"), unique=True)

    __table_args__ = (
        CheckConstraint("amount > 0", name="ck_fund_payments_amount"),
        Index("ix_fund_payments_paid", "paid_at"),
    )


class FundRegisterEntry(Base):
    """The register of deaths (民政/公安 死亡登记) and of closed enterprises (市场监管 注销登记):
    an identity number's keyed hash and the day the person died or the enterprise closed."""

    __tablename__ = "fund_register"
    id_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    kind: Mapped[str] = mapped_column(String(10))  # person (died) / enterprise (closed)
    died_on: Mapped[date] = mapped_column(Date)

    __table_args__ = (CheckConstraint("kind in ('person','enterprise')", name="ck_fund_register_kind"),)


class FundResident(Base):
    """Household links (户籍): a person's household and village, and the post of a village cadre
    (村两委) who reviews the village's subsidy lists; keyed hashes only."""

    __tablename__ = "fund_residents"
    id_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    household: Mapped[str] = mapped_column(String(64), index=True)
    village_id: Mapped[int] = mapped_column(ForeignKey("regions.id"), index=True)
    cadre_post: Mapped[str | None] = mapped_column(String(32))
