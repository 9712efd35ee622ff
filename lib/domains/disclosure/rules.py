"""信息公开 timing rules: the supervised steps the clock has lit, named in the domain's words.

Each obligation, question, request and duty is an item; the engine lights it. These rules only
report the red and yellow ones as of a moment, for the page and `python -m lib flags --domain
DISCLOSURE` (late disclosures, missing disclosures, unanswered questions, overdue answers)."""

from __future__ import annotations

from sqlalchemy import select

from lib import flags
from lib.config import TZ
from lib.lights import RED, fmt_duration
from lib.models import Item, Region, Subsystem, Unit

from .models import DisclosureQuestion, GovinfoDuty, InfoRequest, VillageObligation
from .service import CATEGORIES, parse_period

DOMAIN = "DISCLOSURE"


def _day(dt) -> str:
    return f"{dt.astimezone(TZ):%Y-%m-%d}"


def _last_day(item) -> str:
    from datetime import timedelta

    return _day(item.deadline - timedelta(seconds=1))


def _overdue(item, as_of) -> str:
    """How long past its deadline the item was done, or is at T, as the why's table says it
    (超期时长: 26天7小时 — not a count of days rounded up beside it, 27 天)."""
    end = item.completed_at if item.completed_at and item.completed_at <= as_of else as_of
    return fmt_duration(max(60, int((end - item.deadline).total_seconds())))


@flags.rule(DOMAIN, "DIS-T01", "村务公开逾期", timing=True, weight=1.0)
def village_obligation_late(ctx: flags.RuleContext):
    """村务定期公开（党务每半年，村务至少每季度，财务收支较多的每月、其余每季度；重大事项在决定后
    规定天数内）须在次期规定日前公开：逾期公开为红牌，过期未公开为红牌（缺失），临近期限仍未公开
    为黄牌。出处：《村民委员会组织法》第三十条；本市村务公开规定（次期公开日与重大事项公开天数可在
    “系统设置”中调整）。"""
    rows, population = flags.lit_rows(
        ctx, select(flags.item_timing(), Subsystem.yellow_pct, VillageObligation, Region.code, Region.name)
        .join(Subsystem, Subsystem.id == Item.subsystem_id)
        .join(VillageObligation, VillageObligation.item_id == Item.id)
        .join(Region, Region.id == VillageObligation.village_id)
        .where(Item.received_at <= ctx.as_of))

    def reason(row, lt):
        item, _, ob, _, name = row
        what = f"{name}{parse_period(ob.period).label}{CATEGORIES[ob.category]}公开"
        if lt.light == RED and item.completed_at and item.completed_at <= ctx.as_of:
            return (f"{what}迟于期限 {_overdue(item, ctx.as_of)}公开（应于 "
                    f"{_last_day(item)} 前，实际 {_day(item.completed_at)}）")
        if lt.light == RED:
            return (f"{what}逾期未公开（应于 {_last_day(item)} 前，已逾期 "
                    f"{_overdue(item, ctx.as_of)}）")
        return f"{what}临近期限尚未公开（应于 {_last_day(item)} 前）"

    return flags.timing_records(
        ctx, rows, subject=lambda r: f"{r[3]}.{r[2].category}.{r[2].period}", reason=reason,
        population=population, renamed={"received_at": "period_end"})


@flags.rule(DOMAIN, "DIS-T02", "村民提问未按期答复", timing=True, weight=1.0)
def question_unanswered(ctx: flags.RuleContext):
    """村民对公开事项的提问 10 日内未答复（与网络投诉一样强制回应：不答复即红牌）。出处：本市村务
    公开规定；本平台的强制回应机制。"""
    rows, population = flags.lit_rows(
        ctx, select(flags.item_timing(), Subsystem.yellow_pct, DisclosureQuestion)
        .join(Subsystem, Subsystem.id == Item.subsystem_id)
        .join(DisclosureQuestion, DisclosureQuestion.item_id == Item.id)
        .where(Item.received_at <= ctx.as_of))

    def reason(row, lt):
        item = row[0]
        if lt.light == RED:
            late = _overdue(item, ctx.as_of)
            done = item.completed_at and item.completed_at <= ctx.as_of
            return (f"{item.title}：{'超期' if done else '逾期未'}答复 {late}"
                    f"（应于 {_last_day(item)} 前）")
        return f"{item.title}：答复期限将至（{_last_day(item)}）"

    return flags.timing_records(ctx, rows, subject=lambda r: r[0].external_id, reason=reason,
                                population=population)


@flags.rule(DOMAIN, "DIS-T03", "依申请公开逾期答复", timing=True, weight=1.0)
def request_overdue(ctx: flags.RuleContext):
    """依申请公开自收到申请之日起 20 个工作日内未答复（补正后重新起算；经批准可延长一次，最长不超过
    20 个工作日；征求第三方或其他机关意见的时间不计算在内）。出处：《政府信息公开条例》第三十条、
    第三十二条、第三十三条。"""
    rows, population = flags.lit_rows(
        ctx, select(flags.item_timing(), Subsystem.yellow_pct, InfoRequest, Unit.name)
        .join(Subsystem, Subsystem.id == Item.subsystem_id)
        .join(InfoRequest, InfoRequest.item_id == Item.id)
        .join(Unit, Unit.id == Item.unit_id)
        .where(Item.received_at <= ctx.as_of))

    def reason(row, lt):
        item, _, req, unit = row
        if lt.light == RED:
            return (f"{unit}对申请“{req.subject}”逾期答复 {_overdue(item, ctx.as_of)}"
                    f"（期限 {_last_day(item)}）")
        return f"{unit}对申请“{req.subject}”的答复期限将至（{_last_day(item)}）"

    return flags.timing_records(ctx, rows, subject=lambda r: r[2].code, reason=reason,
                                population=population)


@flags.rule(DOMAIN, "DIS-T04", "主动公开或年度报告逾期", timing=True, weight=1.0)
def duty_overdue(ctx: flags.RuleContext):
    """主动公开的政府信息自形成或变更之日起 20 个工作日内未公开；政府信息公开工作年度报告未按期
    公布（工作部门 1 月 31 日前，本级人民政府 3 月 31 日前）。出处：《政府信息公开条例》第二十六条、
    第四十九条。"""
    rows, population = flags.lit_rows(
        ctx, select(flags.item_timing(), Subsystem.yellow_pct, GovinfoDuty, Unit.name)
        .join(Subsystem, Subsystem.id == Item.subsystem_id)
        .join(GovinfoDuty, GovinfoDuty.item_id == Item.id)
        .join(Unit, Unit.id == Item.unit_id)
        .where(Item.received_at <= ctx.as_of))

    def reason(row, lt):
        item, _, duty, unit = row
        what = "年度报告" if duty.kind == "annual" else "主动公开"
        if lt.light == RED:
            done = item.completed_at and item.completed_at <= ctx.as_of
            return (f"{unit}{what}“{duty.title}”{'迟于期限' if done else '逾期未公开'} "
                    f"{_overdue(item, ctx.as_of)}（期限 {_last_day(item)}）")
        return f"{unit}{what}“{duty.title}”临近期限（{_last_day(item)}）"

    return flags.timing_records(ctx, rows, subject=lambda r: r[0].external_id, reason=reason,
                                population=population)
