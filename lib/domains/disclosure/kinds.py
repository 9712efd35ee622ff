"""Import kind `disclosures`: what villages published (from 村务e路通's own database or a town's
spreadsheet), each row through the same `publish` the staff form uses, so the obligations it
fulfils are lit on time or late.

    python -m lib import disclosures FILE.csv
    external_id,village,category,period,published_at,title
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from lib.access import SYSTEM
from lib.clock import now_utc
from lib.exchange import Column, ImportResult, Kind, Row, register, row_error
from lib.models import Region

from .models import Disclosure
from .service import DisclosureError, parse_period, publish

COLUMNS = (
    Column("external_id", "公开编号", max_len=64, example="GK-440823101201-2026Q3-01",
           help="来源系统中这条公开的唯一编号；再次导入同一编号视为同一条（不重复计数）"),
    Column("village", "行政村代码", max_len=12, example="440823101201",
           help="行政村的代码（python -m lib catalog 列出 kind 为 village 的行）"),
    Column("category", "公开类别", "choice", choices=("party", "village", "finance"),
           choice_labels=("党务", "村务", "财务"), example="finance",
           help="party（党务）、village（村务）或 finance（财务）"),
    Column("period", "公开期间", max_len=10, example="2026-Q3",
           help="月份（2026-09）、季度（2026-Q3）或半年（2026-H1）"),
    Column("published_at", "公开时间", "datetime", example="2026-10-08T10:00",
           help="实际公开的时间（无时区按北京时间）"),
    Column("title", "标题", max_len=200, example="2026年第三季度村级财务收支公开"),
)


def _resolve(session: Session, rows: list[Row]) -> list[str]:
    codes = {r["village"] for r in rows}
    villages = {v.code: v for v in session.scalars(
        select(Region).where(Region.level == "village", Region.code.in_(codes)))}
    existing = {e: (v, c, p, t) for e, v, c, p, t in session.execute(
        select(Disclosure.external_id, Disclosure.village_id, Disclosure.category,
               Disclosure.period, Disclosure.title)
        .where(Disclosure.external_id.in_([r["external_id"] for r in rows])))}
    now = now_utc()
    errors: list[str] = []
    for row in rows:
        village = villages.get(row["village"])
        if village is None:
            errors.append(row_error(row, f"未知行政村代码“{row['village']}”"))
            continue
        try:
            p = parse_period(row["period"])
        except DisclosureError as exc:
            errors.append(row_error(row, str(exc)))
            continue
        if p.kind not in ("M", "Q", "H"):
            errors.append(row_error(row, f"期间“{row['period']}”应为月份、季度或半年"))
            continue
        if row["published_at"] > now:
            errors.append(row_error(row, "公开时间不能晚于当前时间"))
        elif row["published_at"].date() < p.start:
            errors.append(row_error(row, f"公开时间早于所公开期间的开始（{p.start}）"))
        if len(row["title"].strip()) < 2:
            errors.append(row_error(row, "标题至少 2 个字"))
        old = existing.get(row["external_id"])
        if old is not None and (old[0], old[1], old[2]) != (village.id, row["category"], p.code):
            errors.append(row_error(row, f"公开编号“{row['external_id']}”已用于另一村、类别或期间"))
        row.refs.update(village=village, period=p.code, existing=old is not None)
    return errors


def _apply(session: Session, rows: list[Row], actor: str) -> ImportResult:
    result = ImportResult()
    for row in rows:
        if row.refs["existing"]:
            result.count("unchanged", row["external_id"])
            continue
        publish(session, SYSTEM, village_id=row.refs["village"].id, category=row["category"],
                period=row.refs["period"], title=row["title"], published_at=row["published_at"],
                external_id=row["external_id"], actor=actor)
        result.count("created", row["external_id"])
    return result


def _export(session: Session):
    codes = dict(session.execute(select(Region.id, Region.code).where(
        Region.level == "village")).all())
    for d in session.scalars(select(Disclosure).where(Disclosure.category != "major")
                             .order_by(Disclosure.id)):
        yield {"external_id": d.external_id, "village": codes[d.village_id],
               "category": d.category, "period": d.period, "published_at": d.published_at,
               "title": d.title}


register(Kind("disclosures", "村务公开", COLUMNS, "external_id", _resolve, _apply,
              domain="DISCLOSURE",
              description="行政村的党务、村务、财务公开记录；按期间核对公开义务，逾期公开、未公开即亮牌",
              export=_export, chunk=500))
