"""要素市场 records: tenders (政府采购 and 工程招投标) with every bid, land transfers (土地交易)
and state property-rights transfers (产权交易). Their statutory steps are items (lib.items);
their anomalies are flags (lib.flags) read from these tables."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Boolean, CheckConstraint, Date, ForeignKey, Index, Numeric, String, false
from sqlalchemy.orm import Mapped, mapped_column

from lib.models import Base, UtcEpoch

METHODS = ("open", "invited", "negotiation", "consultation", "inquiry", "single_source")
METHOD_LABELS = {"open": "公开招标", "invited": "邀请招标", "negotiation": "竞争性谈判",
                 "consultation": "竞争性磋商", "inquiry": "询价", "single_source": "单一来源"}
LAND_METHODS = ("auction", "listing", "tender", "agreement")
LAND_METHOD_LABELS = {"auction": "拍卖", "listing": "挂牌", "tender": "招标", "agreement": "协议出让"}


class Tender(Base):
    """A procurement or construction tender: the buyer, the method, the dates the law times,
    the award and the contract."""

    __tablename__ = "market_tenders"
    id: Mapped[int] = mapped_column(primary_key=True)
    external_id: Mapped[str] = mapped_column(String(48), unique=True)
    title: Mapped[str | None] = mapped_column(String(120))
    buyer_id: Mapped[int] = mapped_column(ForeignKey("units.id"), index=True)
    method: Mapped[str] = mapped_column(String(16))
    category: Mapped[str] = mapped_column(String(32))  # 货物·… / 服务·… / 工程·…
    estimate: Mapped[float] = mapped_column(Numeric(18, 2))  # 预算（元）
    published_at: Mapped[datetime] = mapped_column(UtcEpoch)
    bid_deadline: Mapped[datetime | None] = mapped_column(UtcEpoch)
    awarded_at: Mapped[datetime | None] = mapped_column(UtcEpoch)
    award_published_at: Mapped[datetime | None] = mapped_column(UtcEpoch)
    contract_signed_at: Mapped[datetime | None] = mapped_column(UtcEpoch)
    contract_value: Mapped[float | None] = mapped_column(Numeric(18, 2))
    winner: Mapped[str | None] = mapped_column(String(32))  # the supplier's code
    # Supplementary contracts (补充合同): their total value.
    amendments_value: Mapped[float | None] = mapped_column(Numeric(18, 2))
    # Payment of a small or medium supplier (保障中小企业款项支付条例).
    winner_sme: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    delivered_at: Mapped[datetime | None] = mapped_column(UtcEpoch)
    acceptance_required: Mapped[bool] = mapped_column(Boolean, default=False,
                                                      server_default=false())
    accepted_at: Mapped[datetime | None] = mapped_column(UtcEpoch)
    paid_at: Mapped[datetime | None] = mapped_column(UtcEpoch)

    __table_args__ = (
        CheckConstraint("method in ('open','invited','negotiation','consultation','inquiry',"
                        "'single_source')", name="ck_market_tenders_method"),
        Index("ix_market_tenders_published", "published_at"),
    )


class Bid(Base):
    """One bid of one supplier in a tender."""

    __tablename__ = "market_bids"
    id: Mapped[int] = mapped_column(primary_key=True)
    tender_id: Mapped[int] = mapped_column(ForeignKey("market_tenders.id"), index=True)
    supplier: Mapped[str] = mapped_column(String(32))  # 统一社会信用代码 or the centre's code
    supplier_name: Mapped[str] = mapped_column(String(100))
    supplier_founded: Mapped[date | None] = mapped_column(Date)
    price: Mapped[float] = mapped_column(Numeric(18, 2))
    received_at: Mapped[datetime] = mapped_column(UtcEpoch)
    disqualified: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    reason: Mapped[str | None] = mapped_column(String(200))

    __table_args__ = (
        Index("ux_market_bids_tender_supplier", "tender_id", "supplier", unique=True),
        Index("ix_market_bids_supplier", "supplier"),
    )


class LandTransfer(Base):
    """A transfer of state construction-land use rights (国有建设用地使用权出让)."""

    __tablename__ = "market_land"
    id: Mapped[int] = mapped_column(primary_key=True)
    external_id: Mapped[str] = mapped_column(String(48), unique=True)
    parcel: Mapped[str] = mapped_column(String(100))
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"), index=True)  # 出让人
    region_id: Mapped[int | None] = mapped_column(ForeignKey("regions.id"))
    use: Mapped[str] = mapped_column(String(16))  # 工业 / 商服 / 住宅 …
    grade: Mapped[str] = mapped_column(String(8))  # 土地级别
    area: Mapped[float] = mapped_column(Numeric(14, 2))  # m²
    benchmark_price: Mapped[float] = mapped_column(Numeric(18, 2))  # 级别基准地价 × 面积（元）
    method: Mapped[str] = mapped_column(String(12))
    price: Mapped[float] = mapped_column(Numeric(18, 2))  # 成交价（元）
    concluded_at: Mapped[datetime] = mapped_column(UtcEpoch)
    result_published_at: Mapped[datetime | None] = mapped_column(UtcEpoch)

    __table_args__ = (
        CheckConstraint("method in ('auction','listing','tender','agreement')",
                        name="ck_market_land_method"),
    )


class PropertyTransfer(Base):
    """A transfer of state-owned property rights (企业国有产权、资产转让)."""

    __tablename__ = "market_property"
    id: Mapped[int] = mapped_column(primary_key=True)
    external_id: Mapped[str] = mapped_column(String(48), unique=True)
    asset: Mapped[str] = mapped_column(String(100))
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"), index=True)  # 转让方主管单位
    region_id: Mapped[int | None] = mapped_column(ForeignKey("regions.id"))
    appraised_value: Mapped[float] = mapped_column(Numeric(18, 2))
    price: Mapped[float] = mapped_column(Numeric(18, 2))
    contract_at: Mapped[datetime] = mapped_column(UtcEpoch)
    paid_at: Mapped[datetime | None] = mapped_column(UtcEpoch)
    # The approving body's written consent to a price below 90 % of the appraisal.
    approval: Mapped[str | None] = mapped_column(String(100))
