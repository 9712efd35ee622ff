"""Import kinds of 要素市场 (lib.exchange): tenders and their bids, with the columns of the
trading centres' exports. A tender writes its statutory steps as items; an import re-runs the
market's rules, so what it brings in is flagged at once."""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from lib import audit, flags
from lib.clock import now_utc
from lib.exchange import Column, ImportResult, Kind, Row, register, row_error
from lib.models import Region, Unit
from lib.workdays import load_calendar

from .models import (
    LAND_METHOD_LABELS,
    LAND_METHODS,
    METHOD_LABELS,
    METHODS,
    Bid,
    LandTransfer,
    PropertyTransfer,
    Tender,
)
from .steps import Steps

TENDER_COLUMNS = (
    Column("external_id", "项目编号", max_len=48, example="ZJCG-2026-0101",
           help="交易中心的项目编号；再次导入同一编号即更新"),
    Column("buyer", "采购人", max_len=16, example="ZJ.JY", help="采购人（招标人）的单位代码"),
    Column("method", "采购方式", "choice", choices=METHODS,
           choice_labels=tuple(METHOD_LABELS[m] for m in METHODS), example="open",
           help="、".join(f"{m}（{METHOD_LABELS[m]}）" for m in METHODS)),
    Column("category", "品目", max_len=32, example="货物·办公设备",
           help="以“工程”开头的归工程招投标，其余归政府采购；拆分采购按同一品目判断"),
    Column("estimate", "预算金额（元）", "money", minimum=0, example="1200000"),
    Column("published_at", "公告发布时间", "datetime", example="2026-03-02T09:00"),
    Column("bid_deadline", "投标截止时间", "datetime", required=False, example="2026-03-23T09:30",
           help="单一来源可留空"),
    Column("awarded_at", "定标时间", "datetime", required=False, example="2026-03-25T16:00",
           help="确定中标（成交）供应商的时间；未定标留空"),
    Column("award_published_at", "结果公告时间", "datetime", required=False,
           example="2026-03-26T10:00", help="中标（成交）结果公告即中标通知书发出时间"),
    Column("contract_signed_at", "合同签订时间", "datetime", required=False,
           example="2026-04-10T10:00"),
    Column("contract_value", "合同金额（元）", "money", required=False, minimum=0,
           example="1150000"),
    Column("winner", "中标人代码", required=False, max_len=32, example="91440800MA51XXXX0A",
           help="中标（成交）供应商的代码，与投标导入中的 supplier 一致"),
)

BID_COLUMNS = (
    Column("tender", "项目编号", max_len=48, example="ZJCG-2026-0101", help="先导入的项目"),
    Column("supplier", "投标人代码", max_len=32, example="91440800MA51XXXX0A",
           help="统一社会信用代码；同一项目内一家一行，再次导入即更新"),
    Column("supplier_name", "投标人名称", max_len=100, example="湛江市海湾建设有限公司"),
    Column("supplier_founded", "投标人成立日期", "date", required=False, example="2015-06-01"),
    Column("price", "投标报价（元）", "money", minimum=0, example="1150000"),
    Column("received_at", "投标送达时间", "datetime", example="2026-03-23T09:10"),
    Column("disqualified", "是否被否决", "bool", example="0", help="1 被否决或资格不合格，0 有效"),
    Column("reason", "否决理由", required=False, example="", help="被否决时填写"),
)


def _resolve_tenders(session: Session, rows: list[Row]) -> list[str]:
    units = {u.code: u for u in session.scalars(select(Unit))}
    now = now_utc()
    errors: list[str] = []
    for row in rows:
        unit = units.get(row["buyer"])
        if unit is None:
            errors.append(row_error(row, f"未知采购人单位代码“{row['buyer']}”"))
        pub, dl, aw = row["published_at"], row["bid_deadline"], row["awarded_at"]
        ap, cs = row["award_published_at"], row["contract_signed_at"]
        if dl is not None and dl < pub:
            errors.append(row_error(row, "投标截止时间早于公告发布时间"))
        if row["method"] != "single_source" and dl is None:
            errors.append(row_error(row, "除单一来源外须填写投标截止时间"))
        if aw is not None and aw < pub:
            errors.append(row_error(row, "定标时间早于公告发布时间"))
        if ap is not None and (aw is None or ap < aw):
            errors.append(row_error(row, "结果公告时间须在定标时间之后（且须先填定标时间）"))
        if cs is not None and (aw is None or cs < aw):
            errors.append(row_error(row, "合同签订时间须在定标时间之后（且须先填定标时间）"))
        if row["winner"] is not None and aw is None:
            errors.append(row_error(row, "填写了中标人但没有定标时间"))
        if aw is not None and row["winner"] is None:
            errors.append(row_error(row, "已定标须填写中标人代码"))
        if row["contract_value"] is not None and cs is None:
            errors.append(row_error(row, "填写了合同金额但没有合同签订时间"))
        for col in ("published_at", "bid_deadline", "awarded_at", "award_published_at",
                    "contract_signed_at"):
            if row[col] is not None and row[col] > now and col != "bid_deadline":
                errors.append(row_error(row, f"{col} 晚于当前时间"))
        row.refs["buyer"] = unit
    return errors


FIELDS = ("method", "category", "estimate", "published_at", "bid_deadline", "awarded_at",
          "award_published_at", "contract_signed_at", "contract_value", "winner")


def _same(a, b) -> bool:
    if hasattr(a, "timestamp") and hasattr(b, "timestamp"):
        return int(a.timestamp()) == int(b.timestamp())
    if isinstance(a, bool) or isinstance(b, bool):
        return bool(a) == bool(b) and a is not None and b is not None
    if isinstance(a, (Decimal, float, int)) and isinstance(b, (Decimal, float, int)):
        return Decimal(str(a)) == Decimal(str(b))
    return a == b


def _apply_tenders(session: Session, rows: list[Row], actor: str) -> ImportResult:
    result = ImportResult()
    steps = Steps(session, load_calendar(session), actor)
    existing = {t.external_id: t for t in session.scalars(
        select(Tender).where(Tender.external_id.in_([r["external_id"] for r in rows])))}
    for row in rows:
        values = {k: row[k] for k in FIELDS} | {"buyer_id": row.refs["buyer"].id}
        t = existing.get(row["external_id"])
        if t is None:
            t = Tender(external_id=row["external_id"], **values)
            session.add(t)
            session.flush()
            audit.record(session, actor=actor, action="tender.create", entity="tender",
                         entity_id=t.external_id, after=values)
            result.count("created", t.external_id)
        else:
            before = {k: getattr(t, k) for k in values}
            if all(_same(before[k], v) for k, v in values.items()):
                result.count("unchanged", t.external_id)
                continue
            for k, v in values.items():
                setattr(t, k, v)
            audit.record(session, actor=actor, action="tender.update", entity="tender",
                         entity_id=t.external_id, before=before, after=values)
            result.count("updated", t.external_id)
        steps.tender(t)
    session.flush()
    flags.refresh(session, domain="MARKET", actor=actor)
    return result


def _export_tenders(session: Session):
    codes = dict(session.execute(select(Unit.id, Unit.code)).all())
    for t in session.scalars(select(Tender).order_by(Tender.external_id)):
        yield {"external_id": t.external_id, "buyer": codes[t.buyer_id]} | {
            k: getattr(t, k) for k in FIELDS}


def _resolve_bids(session: Session, rows: list[Row]) -> list[str]:
    tenders = {t.external_id: t for t in session.scalars(
        select(Tender).where(Tender.external_id.in_({r["tender"] for r in rows})))}
    errors: list[str] = []
    seen: dict = {}
    for row in rows:
        t = tenders.get(row["tender"])
        if t is None:
            errors.append(row_error(row, f"未知项目“{row['tender']}”（请先导入项目）"))
        key = (row["tender"], row["supplier"])
        if key in seen:
            errors.append(row_error(row, f"项目 {key[0]} 的投标人 {key[1]} 与第{seen[key]}行重复"))
        seen[key] = row.line
        if t is not None and row["received_at"] < t.published_at:
            errors.append(row_error(row, "投标送达时间早于项目公告发布时间"))
        if row["disqualified"] and not row["reason"]:
            errors.append(row_error(row, "被否决的投标须填写否决理由"))
        if row["supplier_founded"] and row["supplier_founded"] > row["received_at"].date():
            errors.append(row_error(row, "投标人成立日期晚于投标时间"))
        row.refs["tender"] = t
    return errors


BID_FIELDS = ("supplier_name", "supplier_founded", "price", "received_at", "disqualified",
              "reason")


def _apply_bids(session: Session, rows: list[Row], actor: str) -> ImportResult:
    result = ImportResult()
    ids = {r.refs["tender"].id for r in rows}
    existing = {(b.tender_id, b.supplier): b for b in session.scalars(
        select(Bid).where(Bid.tender_id.in_(ids)))}
    for row in rows:
        t = row.refs["tender"]
        values = {k: row[k] for k in BID_FIELDS}
        key = f"{t.external_id}/{row['supplier']}"
        b = existing.get((t.id, row["supplier"]))
        if b is None:
            session.add(Bid(tender_id=t.id, supplier=row["supplier"], **values))
            audit.record(session, actor=actor, action="bid.create", entity="bid", entity_id=key,
                         after=values)
            result.count("created", key)
            continue
        before = {k: getattr(b, k) for k in values}
        if all(_same(before[k], v) for k, v in values.items()):
            result.count("unchanged", key)
            continue
        for k, v in values.items():
            setattr(b, k, v)
        audit.record(session, actor=actor, action="bid.update", entity="bid", entity_id=key,
                     before=before, after=values)
        result.count("updated", key)
    session.flush()
    flags.refresh(session, domain="MARKET", actor=actor)
    return result


def _export_bids(session: Session):
    for b, ext in session.execute(select(Bid, Tender.external_id)
                                  .join(Tender, Tender.id == Bid.tender_id)
                                  .order_by(Tender.external_id, Bid.supplier)):
        yield {"tender": ext, "supplier": b.supplier} | {k: getattr(b, k) for k in BID_FIELDS}


register(Kind("tenders", "采购与招标项目", TENDER_COLUMNS, "external_id", _resolve_tenders,
              _apply_tenders, domain="MARKET",
              description="政府采购和工程招投标项目：方式、预算、公告、截止、定标、结果公告、合同；"
                          "导入后生成结果公告、合同签订等法定时限事项并重新运行要素市场规则",
              export=_export_tenders))
register(Kind("bids", "投标记录", BID_COLUMNS, None, _resolve_bids, _apply_bids, domain="MARKET",
              description="每个项目的每一家投标：报价、送达时间、是否被否决及理由",
              export=_export_bids))


# -- land and property transfers -------------------------------------------------------------------

LAND_COLUMNS = (
    Column("external_id", "出让编号", max_len=48, example="ZJTD-2026-001"),
    Column("parcel", "地块", max_len=100, example="遂溪县北部湾片区 01 号地块"),
    Column("unit", "出让人", max_len=16, example="440823.ZRZY", help="出让人的单位代码"),
    Column("county", "所在区县", required=False, example="440823", help="行政区划代码；留空取出让人所在地"),
    Column("use", "用途", max_len=16, example="工业"),
    Column("grade", "土地级别", max_len=8, example="四级"),
    Column("area", "面积（㎡）", "number", minimum=0, example="20000"),
    Column("benchmark_price", "基准地价（元）", "money", minimum=0, example="9600000",
           help="所在级别基准地价 × 面积"),
    Column("method", "出让方式", "choice", choices=LAND_METHODS,
           choice_labels=tuple(LAND_METHOD_LABELS[m] for m in LAND_METHODS), example="listing",
           help="、".join(f"{m}（{LAND_METHOD_LABELS[m]}）" for m in LAND_METHODS)),
    Column("price", "成交价（元）", "money", minimum=0, example="11000000"),
    Column("concluded_at", "成交时间", "datetime", example="2026-05-12T10:00"),
    Column("result_published_at", "结果公布时间", "datetime", required=False,
           example="2026-05-15T10:00"),
)

PROPERTY_COLUMNS = (
    Column("external_id", "交易编号", max_len=48, example="ZJCQ-2026-001"),
    Column("asset", "标的", max_len=100, example="某国有企业 25% 股权"),
    Column("unit", "转让方主管单位", max_len=16, example="ZJ.GZW"),
    Column("appraised_value", "评估值（元）", "money", minimum=0, example="5000000"),
    Column("price", "成交价（元）", "money", minimum=0, example="5200000"),
    Column("contract_at", "合同生效时间", "datetime", example="2026-06-01T10:00"),
    Column("paid_at", "价款结清时间", "datetime", required=False, example="2026-06-05T15:00"),
    Column("approval", "批准文件", required=False, max_len=100, example="",
           help="成交价低于评估值 90% 时，转让行为批准单位的书面同意文号"),
)


def _resolve_transfers(session: Session, rows: list[Row]) -> list[str]:
    units = {u.code: u for u in session.scalars(select(Unit))}
    counties = {r.code: r for r in session.scalars(select(Region).where(Region.level == "county"))}
    now = now_utc()
    errors: list[str] = []
    for row in rows:
        unit = units.get(row["unit"])
        if unit is None:
            errors.append(row_error(row, f"未知单位代码“{row['unit']}”"))
        county = None
        if row.get("county") is not None:
            county = counties.get(row["county"])
            if county is None:
                errors.append(row_error(row, f"未知区县“{row['county']}”"))
        start = row.get("concluded_at") or row.get("contract_at")
        end = row.get("result_published_at") or row.get("paid_at")
        if start > now:
            errors.append(row_error(row, "成交（合同生效）时间晚于当前时间"))
        if end is not None and end < start:
            errors.append(row_error(row, "公布（结清）时间早于成交（合同生效）时间"))
        row.refs.update(unit=unit, region_id=county.id if county else (unit.region_id if unit
                                                                        else None))
    return errors


def _apply_transfers(model, fields, step_of):
    def apply(session: Session, rows: list[Row], actor: str) -> ImportResult:
        result = ImportResult()
        steps = Steps(session, load_calendar(session), actor)
        entity = model.__tablename__
        for row in rows:
            values = {k: row[k] for k in fields} | {"unit_id": row.refs["unit"].id,
                                                    "region_id": row.refs["region_id"]}
            x = session.scalar(select(model).where(model.external_id == row["external_id"]))
            if x is None:
                x = model(external_id=row["external_id"], **values)
                session.add(x)
                audit.record(session, actor=actor, action=f"{entity}.create", entity=entity,
                             entity_id=row["external_id"], after=values)
                result.count("created", row["external_id"])
            else:
                before = {k: getattr(x, k) for k in values}
                if all(_same(before[k], v) for k, v in values.items()):
                    result.count("unchanged", row["external_id"])
                    continue
                for k, v in values.items():
                    setattr(x, k, v)
                audit.record(session, actor=actor, action=f"{entity}.update", entity=entity,
                             entity_id=row["external_id"], before=before, after=values)
                result.count("updated", row["external_id"])
            session.flush()
            step_of(steps)(x)
        flags.refresh(session, domain="MARKET", actor=actor)
        return result
    return apply


LAND_FIELDS = ("parcel", "use", "grade", "area", "benchmark_price", "method", "price",
               "concluded_at", "result_published_at")
PROPERTY_FIELDS = ("asset", "appraised_value", "price", "contract_at", "paid_at", "approval")


def _export_land(session: Session):
    codes = dict(session.execute(select(Unit.id, Unit.code)).all())
    regions = dict(session.execute(select(Region.id, Region.code)
                                   .where(Region.level == "county")).all())
    for x in session.scalars(select(LandTransfer).order_by(LandTransfer.external_id)):
        yield {"external_id": x.external_id, "unit": codes[x.unit_id],
               "county": regions.get(x.region_id)} | {
            k: getattr(x, k) for k in LAND_FIELDS}


def _export_property(session: Session):
    codes = dict(session.execute(select(Unit.id, Unit.code)).all())
    for x in session.scalars(select(PropertyTransfer).order_by(PropertyTransfer.external_id)):
        yield {"external_id": x.external_id, "unit": codes[x.unit_id]} | {
            k: getattr(x, k) for k in PROPERTY_FIELDS}


register(Kind("land", "土地出让", LAND_COLUMNS, "external_id", _resolve_transfers,
              _apply_transfers(LandTransfer, LAND_FIELDS, lambda st: st.land), domain="MARKET",
              description="国有建设用地使用权出让：方式、基准地价、成交价、结果公布", export=_export_land))
register(Kind("property", "国有产权交易", PROPERTY_COLUMNS, "external_id", _resolve_transfers,
              _apply_transfers(PropertyTransfer, PROPERTY_FIELDS, lambda st: st.property),
              domain="MARKET", description="企业国有产权、资产转让：评估值、成交价、批准文件、价款结清",
              export=_export_property))
