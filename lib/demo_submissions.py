"""Demo submissions from the public, driven through the same functions as the forms: a realistic
mix of kinds, some answered late, some not at all, some returned or reworked, ratings spread."""

from __future__ import annotations

import random
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from lib import submissions as subs
from lib.access import CurrentUser
from lib.models import ContentPage, Region, RoutingRule, Submission, Unit

N_SUBMISSIONS = 500
DAYS = 180

# (keyword, department): what the routing rules send where.
RULES = [("公积金", "GJJ"), ("社保", "RS"), ("养老", "RS"), ("低保", "MZ"), ("噪声", "STHJ"),
         ("污水", "STHJ"), ("积水", "CGZF"), ("占道", "CGZF"), ("违建", "ZRZY"), ("学位", "JY"),
         ("医院", "WJ"), ("公交", "JT"), ("补贴", "NY"), ("食品", "SCJG"), ("物业", "ZJ")]

TOPICS = {
    "complaint": [("{town}道路积水多日无人处理", "{town}主干道一下雨就积水，已反映多次。"),
                  ("{town}夜间施工噪声扰民", "工地每晚施工到凌晨，严重影响休息。"),
                  ("{town}商户长期占道经营", "人行道被摊位占满，行人只能走机动车道。"),
                  ("小区物业收费不公开", "物业费上涨未公示收支情况。"),
                  ("{town}餐馆食品卫生差", "就餐后多人腹泻，后厨卫生状况堪忧。"),
                  ("惠农补贴迟迟未到账", "去年的耕地地力保护补贴至今未发放。")],
    "consult": [("住房公积金提取需要哪些材料", "租房提取公积金需要准备哪些材料？"),
                ("社保关系如何转移", "从外省回湛江工作，养老保险怎么转移接续？"),
                ("新生儿如何办理医保", "孩子出生后在哪里办理城乡居民医保？"),
                ("小学学位申请时间", "今年小学一年级学位申请什么时候开始？"),
                ("低保申请条件", "家中有残疾人，能否申请低保？")],
    "report": [("举报{town}某村干部优亲厚友", "低保名额被村干部亲属占用。"),
               ("举报违建未被查处", "{town}有人在农田上违建厂房，已建两层。"),
               ("举报公职人员工作日饮酒", "某单位工作人员工作日中午在餐馆饮酒。"),
               ("举报工程转包", "{town}某道路工程中标后被整体转包。")],
    "suggest": [("建议增设{town}公交线路", "{town}到市区的公交班次太少，建议增设。"),
                ("建议延长政务大厅办公时间", "上班族办事难，建议周六上午开放。"),
                ("建议医院增加夜间门诊", "希望市区医院增加儿科夜间门诊。")],
}
NAMES = list("陈李黄林吴张梁王杨何刘钟郑谢冯许邓莫庞符蔡")

CONTENT = [
    ("hot", "关于中心城区内涝治理的答复", "针对群众反映较多的道路积水问题，市城市管理和综合执法局已会同住建、水务部门"
     "排查易涝点 46 处，年内完成 30 处改造。群众可通过“我要反映”继续报告积水点。"),
    ("hot", "惠农补贴发放进度公开", "2026 年耕地地力保护补贴已拨付至各县（市、区），各地须在 30 日内发放到户，"
     "发放情况纳入惠农补贴资金电子监察。"),
    ("hot", "群众诉求“说了不白说”：本月办理情况", "本月共受理群众举报、投诉、咨询和建议，按时答复率和满意度"
     "按单位排名定期公布，逾期未答复的单位将被亮红牌并通报。"),
    ("policy", "《中华人民共和国村民委员会组织法》第三十条、第三十一条", "村民委员会实行村务公开制度。一般事项至少每季度"
     "公布一次；集体财务往来较多的，财务收支情况应当每月公布一次；涉及村民利益的重大事项应当随时公布。"),
    ("policy", "信访与网上投诉办理时限", "咨询 5 个工作日内答复，投诉、建议 10 个工作日内答复，举报 15 个工作日内答复；"
     "确需延期的，须在期限届满前申请。"),
]


# A unit's answer by kind (no draw of the random stream: the demo's figures stay as they were).
_HANDLED = "经核查，已责成相关责任人整改，具体情况如下：已现场处理完毕，并将持续跟踪。如有疑问请联系本单位。"
REPLIES = {
    "complaint": _HANDLED,
    "report": _HANDLED,
    "consult": "您好，关于您咨询的事项答复如下：请携带身份证件及相关材料到本单位政务服务窗口办理，办理条件、"
               "所需材料和流程已在本单位网站公开。如有疑问请联系本单位。",
    "suggest": "感谢您的建议。经研究，您的建议已转相关科室，纳入下一阶段工作统筹考虑，进展将适时公开。"
               "如有疑问请联系本单位。",
}


def _staff(unit: Unit) -> CurrentUser:
    return CurrentUser(id=None, username="演示经办人", display_name="演示经办人",
                       roles=frozenset({"staff"}), unit_id=unit.id, unit_name=unit.name)


INSPECTOR = CurrentUser(id=None, username="演示纪检监察员", display_name="演示纪检监察员",
                        roles=frozenset({"inspector"}))
ADMIN = CurrentUser(id=None, username="演示数据", display_name="演示数据", roles=frozenset({"admin"}))


def load(session: Session, rng: random.Random, anchor: datetime) -> int:
    units = {u.code: u for u in session.scalars(select(Unit))}
    for priority, (keyword, dept) in enumerate(RULES, start=10):
        session.add(RoutingRule(priority=priority, keyword=keyword, unit_id=units[f"ZJ.{dept}"].id,
                                active=True))
    for category, title, body in CONTENT:
        session.add(ContentPage(category=category, title=title, body=body, published=True,
                                updated_at=anchor - timedelta(days=rng.randint(1, 60)),
                                updated_by="演示数据"))
    session.flush()
    counties = list(session.scalars(select(Region).where(Region.level == "county")))
    towns = {c.id: [t.name for t in session.scalars(select(Region).where(Region.parent_id == c.id))]
             for c in counties}
    # The units that serve a county: the city's departments, the county's, its towns'. A
    # citizen who picks a unit, an inspector who dispatches, a unit that hands an order on,
    # pick among them (a town government of another county answering for this one made the
    # complaints' county and their unit's disagree).
    serving = _serving(session, units)
    kinds = ["complaint"] * 40 + ["consult"] * 30 + ["report"] * 15 + ["suggest"] * 15
    published = 0
    for _ in range(N_SUBMISSIONS):
        kind = rng.choice(kinds)
        county = rng.choice(counties)
        town = rng.choice(towns[county.id])
        subject, body = rng.choice(TOPICS[kind])
        anonymous = kind == "report" and rng.random() < 0.5
        t = anchor - timedelta(days=rng.uniform(0, DAYS))
        chosen = rng.choice(serving[county.id]).id if rng.random() < 0.25 else None
        sub = subs.submit(session, subs.NewSubmission(
            kind=kind, region_id=county.id, unit_id=chosen, subject=subject.format(town=town),
            body=body.format(town=town), anonymous=anonymous,
            name="" if anonymous else rng.choice(NAMES) + "先生" if rng.random() < 0.5 else "",
            contact="" if anonymous else f"13{rng.randint(100000000, 999999999)}"), now=t,
            code_rng=rng)
        _progress(session, rng, sub, t, anchor, serving[county.id])
        if (sub.status in ("answered", "closed") and sub.kind in ("consult", "suggest")
                and published < 20 and rng.random() < 0.5):
            subs.publish(session, INSPECTOR, sub.id, sub.body, sub.reply,
                         now=min(anchor, sub.answered_at + timedelta(days=1)))
            published += 1
    session.flush()
    return N_SUBMISSIONS


def _serving(session: Session, units: dict[str, Unit]) -> dict[int, list[Unit]]:
    """{county id: the units that may answer for it} (the discipline commission aside)."""
    regions = {r.id: r for r in session.scalars(select(Region))}
    out: dict[int, list[Unit]] = {r.id: [] for r in regions.values() if r.level == "county"}
    for u in sorted(units.values(), key=lambda u: u.code):
        if u.code == "ZJ.JW":
            continue
        r = regions.get(u.region_id)
        while r is not None and r.level not in ("county", "city"):
            r = regions.get(r.parent_id)
        for county_id in (out if r is None or r.level == "city" else [r.id]):
            out[county_id].append(u)
    return out


def _progress(session, rng, sub: Submission, t: datetime, anchor: datetime,
              serving: list[Unit]) -> None:
    """Walk one submission through the work order, stopping at the anchor (the present);
    `serving`: the units that may answer for its county."""
    def step(hours_lo: float, hours_hi: float) -> datetime | None:
        nonlocal t
        t = t + timedelta(hours=rng.uniform(hours_lo, hours_hi))
        return t if t < anchor else None

    if sub.status == "queued":
        if step(2, 90) is None:
            return
        subs.dispatch(session, INSPECTOR, sub.id, rng.choice(serving).id, now=t)
    unit = session.get(Unit, sub.unit_id)
    late_ack = rng.random() < 0.12
    if step(1, 60 if late_ack else 20) is None:
        return
    r = rng.random()
    if r < 0.04:  # misrouted: returned with its reason, the inspectors send it on
        subs.return_order(session, _staff(unit), sub.id, "不属于本单位法定职责，依据“三定”方案应由其他部门办理",
                          now=t)
        if step(2, 30) is None:
            return
        subs.dispatch(session, INSPECTOR, sub.id, rng.choice(serving).id, now=t)
        unit = session.get(Unit, sub.unit_id)
        if step(1, 20) is None:
            return
    elif r < 0.08:
        other = rng.choice([u for u in serving if u.code != unit.code])
        subs.hand_on(session, _staff(unit), sub.id, other.id, "该事项属于对方单位职责范围", now=t)
        unit = other
        if step(1, 16) is None:
            return
    subs.acknowledge(session, _staff(unit), sub.id, now=t)
    item = session.get(subs.Item, sub.item_id)
    allowed = (item.deadline - item.received_at).total_seconds() / 3600
    if rng.random() < 0.05 and t + timedelta(hours=2) < item.deadline:
        subs.request_extension(session, _staff(unit), sub.id, 5, "需要现场核查并征求相关部门意见",
                               now=t + timedelta(hours=1))
        ext = session.scalars(select(subs.ExtensionRequest).where(
            subs.ExtensionRequest.submission_id == sub.id)).first()
        if t + timedelta(hours=20) < anchor:
            subs.decide_extension(session, INSPECTOR, ext.id, rng.random() < 0.7, "",
                                  now=t + timedelta(hours=20))
    roll = rng.random()
    if roll < 0.025:
        return  # never answered: red card once the deadline passes
    fraction = rng.uniform(1.02, 1.6) if roll < 0.085 else rng.uniform(0.15, 0.95)
    reply_at = item.received_at + timedelta(hours=allowed * fraction)
    if reply_at >= anchor:
        return
    t = max(t + timedelta(minutes=30), reply_at)
    if t >= anchor:
        return
    subs.reply(session, _staff(unit), sub.id, REPLIES.get(sub.kind, _HANDLED), now=t)
    if step(4, 48) is None:
        return
    if rng.random() < 0.08:
        subs.review(session, INSPECTOR, sub.id, False, "答复过于笼统，请写明处理结果和依据", now=t)
        if step(4, 40) is None:
            return
        subs.reply(session, _staff(unit), sub.id, "补充答复：已依据相关规定作出处理，处理结果已告知当事人。",
                   now=t)
        if step(2, 24) is None:
            return
    subs.review(session, INSPECTOR, sub.id, True, now=t)
    if rng.random() > 0.75 or step(10, 120) is None:
        return
    rating = rng.choices([5, 4, 3, 2, 1], [38, 30, 15, 11, 6])[0]
    subs.rate(session, sub.code, rating, "" if rating >= 3 else "问题没有解决", now=t,
              pin=sub.rating_pin)  # the citizen's PIN, given back by `submit`
    if rating <= 2 and rng.random() < 0.6 and step(4, 48) is not None:
        subs.send_back_for_rework(session, INSPECTOR, sub.id, "群众不满意，请重新核查处理", now=t)
        if step(10, 90) is not None:
            subs.reply(session, _staff(unit), sub.id, "重新核查后已彻底处理，并当面向群众说明。", now=t)
