"""要素市场's red flags: each a function whose docstring states its definition and source.

Codes: `MKT-R0xx` where the Open Contracting Partnership's Cardinal library has the indicator
(https://cardinal.readthedocs.io/, its R-codes), `MKT-` plus a short name otherwise. Thresholds
are defaults an administrator may override (lib.flags); where a threshold is a distribution's
fence (Q1 − k·IQR or Q3 + k·IQR), it is computed from the data as of the moment, only from a
sample of at least `min_sample`, and shown on the page (`fence_table`). A finding lies strictly
beyond its fence (Cardinal flags at the fence too; when most values are equal the IQR is 0 and
"at the fence" would be the whole population).

Statutory timings:
- the submission period (R003) is a verdict on the dates the buyer set;
- the result's publication, the contract, the payment of a small or medium supplier, a land
  transfer's result and a property transfer's price are step items with limits (lib.items),
  lit by the one engine with the clock; the timing rules only name those it lit.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime

from sqlalchemy import select

from lib import flags
from lib.config import TZ
from lib.lights import RED, YELLOW, fmt_time
from lib.models import Item, Subsystem
from lib.workdays import load_calendar

from . import data
from .data import CENTRE_UNIT, Fence, fence
from .models import LAND_METHOD_LABELS

DOMAIN = "MARKET"
COMPETITIVE = ("open", "invited", "negotiation", "consultation", "inquiry")
PRICE_DECIDES = ("negotiation", "inquiry")  # 最低价成交 (政府采购非招标采购方式管理办法)
NON_COMPETITIVE = ("single_source", "invited")  # no public call for competition


def _yuan(x: float | None) -> str:
    return "—" if x is None else f"{x:,.2f} 元"


def _wan(x: float) -> str:
    return f"{x / 10000:,.1f} 万元"


def _pct(x: float | None) -> str:
    return "—" if x is None else f"{x:.1%}"


def _flag(ctx, t: data.TenderRow, *, light, reason, at, amount=None, inputs=None, used=None):
    return ctx.flag(subject=t.ext, light=light, reason=reason, unit_id=t.buyer_id, at=at,
                    subsystem=t.subsystem, amount=amount if amount is not None else t.value,
                    inputs={"项目": t.title, "采购人": t.buyer_name, "方式": t.method_label}
                    | (inputs or {}), region_id=t.region_id, used=used)


def _awarded(snap: data.Snapshot) -> list[data.TenderRow]:
    return [t for t in snap.tenders if t.awarded_at is not None and t.winner]


# -- single bid, submission period -------------------------------------------------------------

@flags.rule(DOMAIN, "MKT-R018", "单一投标", weight=2.0, max_bids=1,
            labels={"max_bids": "投标人数不超过（家）"})
def single_bid(ctx):
    """竞争性方式（公开招标、邀请招标、竞争性谈判、竞争性磋商、询价）只有不超过阈值家数的投标人投标
    而仍然定标。公开招标红牌（《招标投标法》第二十八条：投标人少于三个的应重新招标），其他方式黄牌。
    出处：开放合同伙伴关系（OCP）Cardinal 红旗指标 R018“只收到一份投标”；Fazekas 等“单一投标人”指标。"""
    snap = data.snapshot(ctx.session, ctx.as_of)
    pool = [t for t in _awarded(snap) if t.method in COMPETITIVE]
    ctx.population = len(pool)
    for t in pool:
        bidders = {b.supplier for b in t.bids}
        if len(bidders) <= ctx.t["max_bids"]:
            yield _flag(ctx, t, light=RED if t.method == "open" else YELLOW, at=t.awarded_at,
                        reason=f"{t.method_label}仅 {len(bidders)} 家投标（阈值 ≤{ctx.t['max_bids']}）即定标",
                        inputs={"投标人数": len(bidders)})


def _submission_minimum(method: str, t: dict) -> tuple[int, str] | None:
    return {"open": (int(t["open_days"]), "d"), "invited": (int(t["invited_days"]), "d"),
            "consultation": (int(t["consultation_days"]), "d"),
            "negotiation": (int(t["negotiation_wd"]), "wd"),
            "inquiry": (int(t["inquiry_wd"]), "wd")}.get(method)


@flags.rule(DOMAIN, "MKT-R003", "提交期限过短", weight=1.5, open_days=20, invited_days=20,
            consultation_days=10, negotiation_wd=3, inquiry_wd=3, margin=2,
            labels={"open_days": "公开招标最短（日）", "invited_days": "邀请招标最短（日）",
                    "consultation_days": "竞争性磋商最短（日）", "negotiation_wd": "竞争性谈判最短（工作日）",
                    "inquiry_wd": "询价最短（工作日）", "margin": "黄牌余量（日/工作日）"})
def short_submission_period(ctx):
    """自招标（采购）文件发出之日至投标（响应）截止之日的期间短于法定最短期限为红牌，仅在最短期限之上
    余量以内为黄牌。法定最短：公开招标、邀请招标 20 日（《招标投标法》第二十四条、《政府采购货物和服务
    招标投标管理办法》第十条、第二十五条），竞争性磋商 10 日（《政府采购竞争性磋商采购方式管理暂行办法》
    第十条），竞争性谈判、询价 3 个工作日（《政府采购非招标采购方式管理办法》第二十九条、第四十五条）。
    出处：OCP Cardinal 红旗指标 R003“投标期过短”（按采购方式分别设阈值）。"""
    snap = data.snapshot(ctx.session, ctx.as_of)
    cal = load_calendar(ctx.session)
    pool = [t for t in snap.tenders if t.bid_deadline is not None
            and _submission_minimum(t.method, ctx.t) is not None]
    ctx.population = len(pool)
    for t in pool:
        minimum, unit = _submission_minimum(t.method, ctx.t)
        start = t.published_at.astimezone(TZ).date()
        end = t.bid_deadline.astimezone(TZ).date()
        period = (end - start).days if unit == "d" else cal.working_days_between(start, end)
        unit_text = "日" if unit == "d" else "个工作日"
        name = {"open": "open_days", "invited": "invited_days", "consultation": "consultation_days",
                "negotiation": "negotiation_wd", "inquiry": "inquiry_wd"}[t.method]
        if period < minimum:
            light, why = RED, f"短于法定最短 {minimum} {unit_text}"
        elif period < minimum + ctx.t["margin"]:
            light, why = YELLOW, f"仅比法定最短 {minimum} {unit_text}多 {period - minimum}（余量 {ctx.t['margin']}）"
        else:
            continue
        yield _flag(ctx, t, light=light, at=t.published_at,
                    reason=f"{t.method_label}提交期限 {period} {unit_text}，{why}",
                    inputs={"公告发布": fmt_time(t.published_at), "投标截止": fmt_time(t.bid_deadline),
                            "提交期限": f"{period} {unit_text}"}, used=[name, "margin"])


# -- prices -------------------------------------------------------------------------------------

def _gaps(snap: data.Snapshot) -> list[tuple[data.TenderRow, float, data.BidRow]]:
    """(tender, (second-lowest valid − winner) / winner, second bid) where the lowest valid bid
    won (Cardinal R024/R058's difference)."""
    out = []
    for t in _awarded(snap):
        valid = t.valid_bids
        w = t.winning_bid
        if len(valid) < 2 or w is None or w.disqualified or w.price <= 0:
            continue
        others = [b for b in valid if b.supplier != w.supplier]
        second = others[0]
        out.append((t, (second.price - w.price) / w.price, second))
    return out


def gap_fence(snap: data.Snapshot, t: dict) -> Fence:
    return fence([g for _, g, _ in _gaps(snap)], k=t["k"], min_sample=int(t["min_sample"]))


@flags.rule(DOMAIN, "MKT-R024", "次低价贴近中标价", weight=1.5, k=1.5, min_sample=30,
            labels={"k": "围栏倍数 k（Q1 − k·IQR）", "min_sample": "最小样本（项目数）"})
def price_close_to_winner(ctx):
    """次低有效报价与中标价之差（占中标价比例）小于全市分布的下围栏 Q1 − k·IQR：陪标者报出与
    中标者几乎相同的价格以制造竞争假象。围栏由有效投标不少于两家的已定标项目计算，样本不足不判定。
    出处：OCP Cardinal 红旗指标 R024“报价与中标价过于接近”；Tóth 等《公共采购串通投标识别工具包》。"""
    snap = data.snapshot(ctx.session, ctx.as_of)
    gaps = _gaps(snap)
    ctx.population = len(gaps)
    f = gap_fence(snap, ctx.t)
    if not f.ready:
        return
    for t, gap, second in gaps:
        if gap < f.lower:
            yield _flag(ctx, t, light=YELLOW, at=t.awarded_at,
                        reason=f"次低价仅比中标价高 {_pct(gap)}，低于全市下围栏 {_pct(f.lower)}",
                        inputs={"中标价": _yuan(t.winning_bid.price), "次低价": _yuan(second.price),
                                "次低价供应商": second.name, "差额比例": _pct(gap)} | f.inputs("lower"))


@flags.rule(DOMAIN, "MKT-R058", "中标价远低于其他报价", weight=1.0, k=1.5, min_sample=30,
            labels={"k": "围栏倍数 k（Q3 + k·IQR）", "min_sample": "最小样本（项目数）"})
def heavily_discounted_winner(ctx):
    """次低有效报价与中标价之差（占中标价比例）大于全市分布的上围栏 Q3 + k·IQR：中标价远低于
    其他所有报价，可能低于成本、以次充好或事后以变更追加。样本不足不判定。
    出处：OCP Cardinal 红旗指标 R058“报价大幅低于其他投标”；欧盟委员会《公共采购欺诈》红旗。"""
    snap = data.snapshot(ctx.session, ctx.as_of)
    gaps = _gaps(snap)
    ctx.population = len(gaps)
    f = gap_fence(snap, ctx.t)
    if not f.ready:
        return
    for t, gap, second in gaps:
        if gap > f.upper:
            yield _flag(ctx, t, light=YELLOW, at=t.awarded_at,
                        reason=f"中标价比次低价低 {_pct(gap)}（按中标价计），高于全市上围栏 {_pct(f.upper)}",
                        inputs={"中标价": _yuan(t.winning_bid.price), "次低价": _yuan(second.price),
                                "差额比例": _pct(gap)} | f.inputs("upper"))


@flags.rule(DOMAIN, "MKT-R028", "不同投标人报价相同", weight=2.0)
def identical_prices(ctx):
    """同一项目中两家以上不同投标人的报价完全相同：泄露报价或串通投标（《招标投标法实施条例》
    第四十条“不同投标人的投标文件异常一致或者投标报价呈规律性差异”视为串通投标）。
    出处：OCP Cardinal 红旗指标 R028“投标报价完全相同”。"""
    snap = data.snapshot(ctx.session, ctx.as_of)
    pool = [t for t in snap.tenders if len(t.bids) >= 2 and t.bid_deadline is not None
            and t.bid_deadline <= ctx.as_of]
    ctx.population = len(pool)
    for t in pool:
        by_price = defaultdict(list)
        for b in t.bids:
            by_price[round(b.price, 2)].append(b)
        same = {p: bs for p, bs in by_price.items() if len(bs) >= 2}
        if not same:
            continue
        price, bidders = min(same.items())
        yield _flag(ctx, t, light=RED, at=t.bid_deadline,
                    reason=f"{len(bidders)} 家投标人报价同为 {_yuan(price)}",
                    inputs={"相同报价": _yuan(price),
                            "投标人": "、".join(b.name for b in bidders)})


@flags.rule(DOMAIN, "MKT-R030", "逾期投标中标", weight=3.0)
def late_bid_won(ctx):
    """中标人的投标文件在投标截止时间之后送达：截止后送达的投标文件招标人应当拒收（《招标投标法》
    第二十八条），逾期投标中标属违法定标。出处：OCP Cardinal 红旗指标 R030“逾期投标中标”。"""
    snap = data.snapshot(ctx.session, ctx.as_of)
    pool = [t for t in _awarded(snap) if t.bid_deadline is not None and t.winning_bid]
    ctx.population = len(pool)
    for t in pool:
        w = t.winning_bid
        if w.received_at > t.bid_deadline:
            late = int((w.received_at - t.bid_deadline).total_seconds() // 60)
            yield _flag(ctx, t, light=RED, at=t.awarded_at,
                        reason=f"中标人 {w.name} 的投标在截止后 {late} 分钟送达仍被接收并中标",
                        inputs={"投标截止": fmt_time(t.bid_deadline),
                                "中标人送达": fmt_time(w.received_at)})


# -- disqualifications --------------------------------------------------------------------------

@flags.rule(DOMAIN, "MKT-R035", "除中标人外全部被否决", weight=2.5, min_disqualified=1,
            labels={"min_disqualified": "被否决投标人至少（家）"})
def all_but_winner_disqualified(ctx):
    """只有中标人一家的投标有效，其余投标人（不少于阈值家数）全部被否决或资格不合格：以否决排除
    竞争者、内定中标人。出处：OCP Cardinal 红旗指标 R035“除中标人外全部被否决”；Fazekas 等“仅留一家投标”指标。"""
    snap = data.snapshot(ctx.session, ctx.as_of)
    pool = [t for t in _awarded(snap) if len(t.bids) >= 2]
    ctx.population = len(pool)
    for t in pool:
        valid = t.valid_bids
        out = [b for b in t.bids if b.disqualified]
        if len(valid) == 1 and valid[0].supplier == t.winner \
                and len(out) >= ctx.t["min_disqualified"]:
            reasons = "；".join(f"{b.name}：{b.reason or '未说明'}" for b in out[:4])
            yield _flag(ctx, t, light=RED, at=t.awarded_at,
                        reason=f"{len(out)} 家投标被否决，仅中标人 {valid[0].name} 有效",
                        inputs={"被否决": len(out), "否决理由": reasons})


@flags.rule(DOMAIN, "MKT-R036", "最低价被否决", weight=1.5)
def lowest_bid_disqualified(ctx):
    """以价格定标的方式（竞争性谈判、询价：最低报价成交）中，最低报价被否决而由较高报价成交。
    出处：OCP Cardinal 红旗指标 R036“最低报价被否决”；欧盟委员会《公共采购欺诈》“最低报价被莫名否决”。"""
    snap = data.snapshot(ctx.session, ctx.as_of)
    pool = [t for t in _awarded(snap) if t.method in PRICE_DECIDES and len(t.bids) >= 2]
    ctx.population = len(pool)
    for t in pool:
        lowest = min(t.bids, key=lambda b: b.price)
        w = t.winning_bid
        if lowest.disqualified and w is not None and w.supplier != lowest.supplier:
            yield _flag(ctx, t, light=YELLOW, at=t.awarded_at,
                        amount=w.price - lowest.price,
                        reason=f"最低报价 {_yuan(lowest.price)}（{lowest.name}）被否决，"
                               f"以 {_yuan(w.price)} 成交，多付 {_yuan(w.price - lowest.price)}",
                        inputs={"最低报价": _yuan(lowest.price), "否决理由": lowest.reason or "未说明",
                                "成交价": _yuan(w.price)})


def _disqualified_shares(snap: data.Snapshot, min_bids: int):
    """Per buyer and per supplier: (bids, disqualified) over bids of tenders past their deadline."""
    buyers: dict = defaultdict(lambda: [0, 0])
    suppliers: dict = defaultdict(lambda: [0, 0, ""])
    names = {}
    last: dict = {}
    for t in snap.tenders:
        if t.bid_deadline is None or t.bid_deadline > snap.as_of:
            continue
        names[t.buyer_id] = t
        last[t.buyer_id] = max(last.get(t.buyer_id, t.bid_deadline), t.bid_deadline)
        for b in t.bids:
            last[b.supplier] = max(last.get(b.supplier, t.bid_deadline), t.bid_deadline)
            buyers[t.buyer_id][0] += 1
            buyers[t.buyer_id][1] += b.disqualified
            s = suppliers[b.supplier]
            s[0] += 1
            s[1] += b.disqualified
            s[2] = b.name
    buyers = {k: v for k, v in buyers.items() if v[0] >= min_bids}
    suppliers = {k: v for k, v in suppliers.items() if v[0] >= min_bids}
    return buyers, suppliers, names, last


def disqualified_fences(snap: data.Snapshot, t: dict) -> tuple[Fence, Fence]:
    buyers, suppliers, _, _ = _disqualified_shares(snap, int(t["min_bids"]))
    kw = {"k": t["k"], "min_sample": int(t["min_sample"])}
    return (fence([d / n for n, d in buyers.values()], **kw),
            fence([d / n for n, d, _ in suppliers.values()], **kw))


@flags.rule(DOMAIN, "MKT-R038", "否决比例异常", weight=1.5, k=1.5, min_sample=10, min_bids=10,
            labels={"k": "围栏倍数 k（Q3 + k·IQR）", "min_sample": "最小样本（采购人或投标人数）",
                    "min_bids": "纳入计算的最少投标数"})
def excessive_disqualifications(ctx):
    """采购人所收投标中被否决的比例，或投标人所投标中被否决的比例，大于同类分布的上围栏
    Q3 + k·IQR（各自只计投标不少于阈值的采购人或投标人，样本不足不判定）：采购人借否决排斥潜在投标人，
    或投标人故意递交无效标陪标。出处：OCP Cardinal 红旗指标 R038“被否决的投标过多”。"""
    snap = data.snapshot(ctx.session, ctx.as_of)
    buyers, suppliers, tenders, last = _disqualified_shares(snap, int(ctx.t["min_bids"]))
    ctx.population = len(buyers) + len(suppliers)
    fb, fs = disqualified_fences(snap, ctx.t)
    if fb.ready:
        for uid, (n, d) in buyers.items():
            if d / n > fb.upper and d > 0:
                code, name, region = snap.units[uid]
                yield ctx.flag(subject=code, light=YELLOW, unit_id=uid, at=last[uid],
                               subsystem=tenders[uid].subsystem, region_id=region,
                               reason=f"采购人否决投标 {d}/{n}（{_pct(d / n)}），高于全市上围栏 {_pct(fb.upper)}",
                               inputs={"采购人": name, "投标数": n, "被否决": d} | fb.inputs("upper"))
    centre = snap.unit_id(CENTRE_UNIT)
    if fs.ready and centre is not None:
        for sup, (n, d, name) in suppliers.items():
            if d / n > fs.upper and d > 0:
                yield ctx.flag(subject=sup, light=YELLOW, unit_id=centre, at=last[sup],
                               subsystem="PROCURE",
                               reason=f"投标人 {name} 的投标被否决 {d}/{n}（{_pct(d / n)}），高于上围栏 {_pct(fs.upper)}",
                               inputs={"投标人": name, "投标数": n, "被否决": d} | fs.inputs("upper"))


def _bidder_record(snap: data.Snapshot):
    """Per supplier: [valid bids, wins, name] over awarded tenders."""
    acc: dict = defaultdict(lambda: [0, 0, "", None])
    for t in _awarded(snap):
        for b in t.bids:
            if b.disqualified:
                continue
            a = acc[b.supplier]
            a[0] += 1
            a[1] += b.supplier == t.winner
            a[2] = b.name
            a[3] = t.awarded_at if a[3] is None else max(a[3], t.awarded_at)
    return acc


def cover_bidding_fences(snap: data.Snapshot, t: dict) -> tuple[Fence, Fence]:
    acc = _bidder_record(snap)
    counts = fence([v[0] for v in acc.values()], k=t["k"], min_sample=int(t["min_sample"]))
    ratios = fence([v[1] / v[0] for v in acc.values() if v[0]], k=t["k"],
                   min_sample=int(t["min_sample"]))
    return counts, ratios


@flags.rule(DOMAIN, "MKT-R025", "屡投不中（陪标）", weight=1.5, k=1.5, min_sample=20, min_bids=10,
            labels={"k": "围栏倍数 k（Q1 − k·IQR）", "min_sample": "最小样本（投标人数）",
                    "min_bids": "有效投标至少（次）"})
def excessive_unsuccessful_bids(ctx):
    """投标人的有效投标次数不少于全部投标人投标次数的第三四分位数 Q3（且不少于阈值），而中标率小于
    中标率分布的下围栏 Q1 − k·IQR：频繁投标却几乎不中，是陪标、围标的典型模式。样本不足不判定。
    出处：OCP Cardinal 红旗指标 R025“屡投不中”；Tóth 等“多余的落标人”指标。"""
    snap = data.snapshot(ctx.session, ctx.as_of)
    acc = _bidder_record(snap)
    ctx.population = len(acc)
    counts, ratios = cover_bidding_fences(snap, ctx.t)
    centre = snap.unit_id(CENTRE_UNIT)
    if not (counts.ready and ratios.ready) or centre is None:
        return
    for sup, (n, wins, name, last) in acc.items():
        if n >= max(counts.q3, ctx.t["min_bids"]) and wins / n < ratios.lower:
            yield ctx.flag(subject=sup, light=YELLOW, unit_id=centre, at=last,
                           subsystem="PROCURE",
                           reason=f"投标人 {name} 有效投标 {n} 次仅中标 {wins} 次（{_pct(wins / n)}），"
                                  f"低于中标率下围栏 {_pct(ratios.lower)}",
                           inputs={"投标人": name, "有效投标": n, "中标": wins,
                                   "投标次数 Q3": round(counts.q3, 2)} | ratios.inputs("lower"))


# -- the winner, the buyer -----------------------------------------------------------------------

@flags.rule(DOMAIN, "MKT-NEWCO", "中标人新近成立", weight=1.0, max_age_days=180,
            labels={"max_age_days": "成立不满（日）"})
def newly_founded_winner(ctx):
    """中标人成立日期距采购公告发布不满阈值天数：为承接特定项目临时设立的“空壳”公司或关联公司。
    出处：OCP《廉洁红旗指南》“供应商新近成立”；欧盟 DIGIWHIST 项目新设企业指标。"""
    snap = data.snapshot(ctx.session, ctx.as_of)
    pool = [t for t in _awarded(snap) if t.winning_bid and t.winning_bid.founded]
    ctx.population = len(pool)
    for t in pool:
        w = t.winning_bid
        age = (t.published_at.astimezone(TZ).date() - w.founded).days
        if age < ctx.t["max_age_days"]:
            yield _flag(ctx, t, light=YELLOW, at=t.awarded_at,
                        reason=f"中标人 {w.name} 成立于 {w.founded}，距公告发布仅 {age} 日（阈值 {ctx.t['max_age_days']} 日）",
                        inputs={"中标人": w.name, "成立日期": str(w.founded), "公告发布": fmt_time(t.published_at)})


@flags.rule(DOMAIN, "MKT-SPLIT", "拆分采购规避招标", weight=2.5, threshold=4_000_000,
            window_days=90, min_parts=3,
            labels={"threshold": "公开招标数额标准（元）", "window_days": "时间窗（日）",
                    "min_parts": "拆分笔数至少"})
def split_purchases(ctx):
    """同一采购人在时间窗内以非公开招标方式多次采购同一品目，每笔预算均低于公开招标数额标准而合计达到
    标准：化整为零规避公开招标（《政府采购法》第二十八条，《政府采购法实施条例》第二十八条：一个预算年度内
    多次采购同一品目且累计资金数额超过公开招标数额标准的，属于以化整为零方式规避公开招标）。数额标准按
    广东省集中采购目录及标准（货物、服务 400 万元）。出处：OCP《廉洁红旗指南》“拆分采购”。"""
    snap = data.snapshot(ctx.session, ctx.as_of)
    th, window = float(ctx.t["threshold"]), int(ctx.t["window_days"])
    groups = defaultdict(list)
    for t in snap.tenders:
        if t.method != "open" and t.estimate < th:
            groups[(t.buyer_id, t.category)].append(t)
    ctx.population = len(groups)
    for (_, category), ts in groups.items():
        ts.sort(key=lambda x: x.published_at)
        start = 0
        for end in range(len(ts)):
            while (ts[end].published_at - ts[start].published_at).days > window:
                start += 1
            part = ts[start:end + 1]
            total = sum(x.estimate for x in part)
            if len(part) >= ctx.t["min_parts"] and total >= th:
                first = part[0]
                yield ctx.flag(
                    subject=first.ext, light=RED,
                    unit_id=first.buyer_id, at=part[-1].published_at, subsystem=first.subsystem,
                    region_id=first.region_id, amount=total,
                    reason=f"{window} 日内以非公开招标方式采购“{category}” {len(part)} 笔，"
                           f"每笔低于 {_wan(th)}，合计 {_wan(total)}",
                    inputs={"采购人": first.buyer_name, "品目": category,
                            "各笔": "；".join(f"{x.ext} {_wan(x.estimate)} {x.method_label}"
                                             for x in part)})
                break


def _method_shares(snap: data.Snapshot, min_tenders: int):
    acc = defaultdict(lambda: [0, 0])
    for t in snap.tenders:
        acc[t.buyer_id][0] += 1
        acc[t.buyer_id][1] += t.method in NON_COMPETITIVE
    return {k: v for k, v in acc.items() if v[0] >= min_tenders}


def noncompetitive_fence(snap: data.Snapshot, t: dict) -> Fence:
    shares = _method_shares(snap, int(t["min_tenders"]))
    return fence([d / n for n, d in shares.values()], k=t["k"], min_sample=int(t["min_sample"]))


@flags.rule(DOMAIN, "MKT-NONCOMP", "非竞争方式占比过高", weight=1.5, k=1.5, min_sample=10,
            min_tenders=5,
            labels={"k": "围栏倍数 k（Q3 + k·IQR）", "min_sample": "最小样本（采购人数）",
                    "min_tenders": "纳入计算的最少项目数"})
def noncompetitive_share(ctx):
    """采购人项目中单一来源和邀请招标（不公开征集竞争）所占比例大于全市采购人分布的上围栏
    Q3 + k·IQR（只计项目不少于阈值的采购人，样本不足不判定）。《政府采购法》第二十六条：公开招标应作为
    政府采购的主要采购方式。出处：欧盟 DIGIWHIST 项目 / Fazekas“非公开采购方式”指标；OCP《廉洁红旗指南》“非竞争性采购占比过高”。"""
    snap = data.snapshot(ctx.session, ctx.as_of)
    shares = _method_shares(snap, int(ctx.t["min_tenders"]))
    ctx.population = len(shares)
    f = noncompetitive_fence(snap, ctx.t)
    if not f.ready:
        return
    for uid, (n, d) in shares.items():
        if d and d / n > f.upper:
            code, name, region = snap.units[uid]
            sub = next(t.subsystem for t in snap.tenders if t.buyer_id == uid)
            last = max(t.published_at for t in snap.tenders if t.buyer_id == uid)
            yield ctx.flag(subject=code, light=YELLOW, unit_id=uid, at=last, subsystem=sub,
                           region_id=region,
                           reason=f"单一来源及邀请招标 {d}/{n} 项（{_pct(d / n)}），高于全市上围栏 {_pct(f.upper)}",
                           inputs={"采购人": name, "项目数": n, "非竞争方式": d} | f.inputs("upper"))


@flags.rule(DOMAIN, "MKT-AMEND", "补充合同超过一成", weight=2.0, max_share=0.10,
            labels={"max_share": "补充合同占原合同比例上限"})
def amendments_over_cap(ctx):
    """补充合同累计金额超过原合同金额的阈值比例（默认 10%）。《政府采购法》第四十九条：追加与合同标的
    相同的货物、工程或者服务的，所有补充合同的采购金额不得超过原合同采购金额的百分之十。
    出处：OCP《廉洁红旗指南》“合同变更抬高金额”。"""
    snap = data.snapshot(ctx.session, ctx.as_of)
    pool = [t for t in _awarded(snap) if t.contract_value and t.contract_signed_at]
    ctx.population = len(pool)
    for t in pool:
        extra = t.amendments_value or 0
        share = extra / t.contract_value
        if share > ctx.t["max_share"]:
            yield _flag(ctx, t, light=RED, at=t.contract_signed_at,
                        amount=extra - ctx.t["max_share"] * t.contract_value,
                        reason=f"补充合同 {_wan(extra)}，为原合同 {_wan(t.contract_value)} 的 {_pct(share)}，"
                               f"超过 {_pct(ctx.t['max_share'])} 上限",
                        inputs={"原合同金额": _yuan(t.contract_value), "补充合同金额": _yuan(extra)})


def _supplier_shares(snap: data.Snapshot, min_contracts: int):
    acc: dict = defaultdict(lambda: defaultdict(float))
    counts: dict = defaultdict(int)
    names = {}
    for t in _awarded(snap):
        acc[t.buyer_id][t.winner] += t.value
        counts[t.buyer_id] += 1
        if t.winning_bid:
            names[t.winner] = t.winning_bid.name
    out = {}
    for uid, per in acc.items():
        if counts[uid] < min_contracts:
            continue
        top, amount = max(per.items(), key=lambda kv: kv[1])
        total = sum(per.values())
        out[uid] = (top, names.get(top, top), amount, total, counts[uid])
    return out


def concentration_fence(snap: data.Snapshot, t: dict) -> Fence:
    shares = _supplier_shares(snap, int(t["min_contracts"]))
    return fence([a / tot for _, _, a, tot, _ in shares.values() if tot], k=t["k"],
                 min_sample=int(t["min_sample"]))


@flags.rule(DOMAIN, "MKT-CONC", "供应商集中度过高", weight=1.5, k=1.5, min_sample=10,
            min_contracts=5,
            labels={"k": "围栏倍数 k（Q3 + k·IQR）", "min_sample": "最小样本（采购人数）",
                    "min_contracts": "纳入计算的最少合同数"})
def supplier_concentration(ctx):
    """一家供应商所得合同金额占某采购人合同总额的比例大于全市采购人分布的上围栏 Q3 + k·IQR
    （只计合同不少于阈值的采购人，样本不足不判定）：采购人与供应商的长期利益输送。
    出处：欧盟 DIGIWHIST 项目 / Fazekas“供应商依赖单一采购人”指标；OCP《廉洁红旗指南》“合同集中于少数供应商”。"""
    snap = data.snapshot(ctx.session, ctx.as_of)
    shares = _supplier_shares(snap, int(ctx.t["min_contracts"]))
    ctx.population = len(shares)
    f = concentration_fence(snap, ctx.t)
    if not f.ready:
        return
    for uid, (top, name, amount, total, n) in shares.items():
        share = amount / total
        if share > f.upper:
            code, uname, region = snap.units[uid]
            sub = next(t.subsystem for t in snap.tenders if t.buyer_id == uid)
            last = max(t.awarded_at for t in _awarded(snap) if t.buyer_id == uid)
            yield ctx.flag(subject=code, light=YELLOW, unit_id=uid, at=last,
                           subsystem=sub, region_id=region, amount=amount,
                           reason=f"{name} 获得该采购人合同额的 {_pct(share)}（{_wan(amount)}/{_wan(total)}），"
                                  f"高于全市上围栏 {_pct(f.upper)}",
                           inputs={"采购人": uname, "供应商": name, "供应商代码": top, "合同数": n}
                           | f.inputs("upper"))


# -- land and property ----------------------------------------------------------------------------

@flags.rule(DOMAIN, "MKT-LAND", "协议出让低于基准地价七成", weight=3.0, min_ratio=0.70,
            labels={"min_ratio": "成交价不低于基准地价的比例"})
def land_below_benchmark(ctx):
    """以协议方式出让国有建设用地使用权，成交价低于所在级别基准地价的阈值比例（默认 70%）。
    《协议出让国有土地使用权规定》第五条：协议出让最低价不得低于拟出让地块所在级别基准地价的 70%。"""
    snap = data.snapshot(ctx.session, ctx.as_of)
    pool = [x for x in snap.land if x.method == "agreement"]
    ctx.population = len(pool)
    for x in pool:
        bench, price = float(x.benchmark_price), float(x.price)
        if bench > 0 and price < ctx.t["min_ratio"] * bench:
            yield ctx.flag(subject=x.external_id, light=RED, unit_id=x.unit_id, at=x.concluded_at,
                           subsystem="LAND", region_id=x.region_id,
                           amount=ctx.t["min_ratio"] * bench - price,
                           reason=f"协议出让成交 {_wan(price)}，为基准地价 {_wan(bench)} 的 {_pct(price / bench)}，"
                                  f"低于 {_pct(ctx.t['min_ratio'])}",
                           inputs={"地块": x.parcel, "用途": x.use, "土地级别": x.grade,
                                   "面积（㎡）": float(x.area), "方式": LAND_METHOD_LABELS[x.method],
                                   "基准地价": _yuan(bench), "成交价": _yuan(price)})


@flags.rule(DOMAIN, "MKT-PROP", "国有产权低于评估价九成未经批准", weight=3.0, min_ratio=0.90,
            labels={"min_ratio": "成交价不低于评估值的比例"})
def property_below_appraisal(ctx):
    """国有产权（资产）转让成交价低于评估结果的阈值比例（默认 90%）而无批准单位的书面同意。
    《企业国有资产交易监督管理办法》（国资委 财政部令第 32 号）第十八条：转让项目首次正式信息披露的
    转让底价不得低于经核准或备案的转让标的评估结果；新的转让底价低于评估结果的 90% 时，应当经转让行为
    批准单位书面同意。"""
    snap = data.snapshot(ctx.session, ctx.as_of)
    pool = list(snap.property)
    ctx.population = len(pool)
    for x in pool:
        value, price = float(x.appraised_value), float(x.price)
        if value > 0 and price < ctx.t["min_ratio"] * value and not (x.approval or "").strip():
            yield ctx.flag(subject=x.external_id, light=RED, unit_id=x.unit_id, at=x.contract_at,
                           subsystem="PROPERTY", region_id=x.region_id, amount=value - price,
                           reason=f"成交 {_wan(price)}，为评估值 {_wan(value)} 的 {_pct(price / value)}，"
                                  f"低于 {_pct(ctx.t['min_ratio'])} 且无批准单位书面同意",
                           inputs={"标的": x.asset, "评估值": _yuan(value), "成交价": _yuan(price),
                                   "批准文件": x.approval or "无"})


# -- statutory steps lit by the clock ------------------------------------------------------------

STEPS = {  # suffix -> (rule code, Chinese name)
    "PUB": "中标（成交）结果公告",
    "CON": "签订采购合同",
    "PAY": "向中小企业支付款项",
    "LPUB": "土地出让结果公布",
    "PPAY": "产权交易价款结清",
}


def _step_rows(ctx, suffix: str, subsystems: tuple[str, ...]):
    """The step's items that can be lit at T, and how many were received by T."""
    ids = list(ctx.session.scalars(select(Subsystem.id).where(Subsystem.code.in_(subsystems))))
    return flags.lit_rows(
        ctx, select(flags.item_timing(), Subsystem.yellow_pct)
        .join(Subsystem, Subsystem.id == Item.subsystem_id)
        .where(Item.subsystem_id.in_(ids), Item.external_id.like(f"%.{suffix}"),
               Item.received_at <= ctx.as_of))


def _timing(ctx, suffix: str, subsystems: tuple[str, ...]):
    rows, population = _step_rows(ctx, suffix, subsystems)
    name = STEPS[suffix]
    return flags.timing_records(
        ctx, rows, subject=lambda row: row[0].external_id.rsplit(".", 1)[0], population=population,
        reason=lambda row, lt: f"{name}：{lt.reason}")


@flags.rule(DOMAIN, "MKT-PUB", "结果公告超时", timing=True, weight=1.0)
def result_published_late(ctx):
    """中标（成交）结果应自确定中标（成交）供应商之日起 2 个工作日内公告（《政府采购法实施条例》
    第四十三条）。每个定标项目是一个时限事项，由统一亮灯引擎按时钟亮灯。"""
    return _timing(ctx, "PUB", ("PROCURE", "BIDDING"))


@flags.rule(DOMAIN, "MKT-CON", "合同签订超时", timing=True, weight=1.0)
def contract_late(ctx):
    """采购人应自中标（成交）通知书发出之日起 30 日内签订书面合同（《政府采购法》第四十六条；
    《招标投标法》第四十六条）。每个项目的合同签订是一个时限事项，由统一亮灯引擎按时钟亮灯。"""
    return _timing(ctx, "CON", ("PROCURE", "BIDDING"))


@flags.rule(DOMAIN, "MKT-PAY", "拖欠中小企业款项", timing=True, weight=2.0)
def sme_payment_late(ctx):
    """机关、事业单位从中小企业采购，应自交付之日起 30 日内付款；合同约定以检验或验收合格为付款条件的，
    自检验或验收合格之日起 30 日内付款，但最长不得超过交付后 60 日（《保障中小企业款项支付条例》第八条、
    第九条）。每笔应付款是一个时限事项，由统一亮灯引擎按时钟亮灯。"""
    return _timing(ctx, "PAY", ("PROCURE", "BIDDING"))


@flags.rule(DOMAIN, "MKT-LPUB", "土地出让结果公布超时", timing=True, weight=1.0)
def land_result_late(ctx):
    """招标拍卖挂牌活动结束后，出让人应在 10 个工作日内公布出让结果（《招标拍卖挂牌出让国有建设用地
    使用权规定》第二十条）。每宗出让是一个时限事项，由统一亮灯引擎按时钟亮灯。"""
    return _timing(ctx, "LPUB", ("LAND",))


@flags.rule(DOMAIN, "MKT-PPAY", "产权交易价款逾期", timing=True, weight=1.0)
def property_paid_late(ctx):
    """国有产权交易价款原则上应自合同生效之日起 5 个工作日内一次付清（《企业国有资产交易监督管理办法》
    第二十八条）。每宗交易是一个时限事项，由统一亮灯引擎按时钟亮灯。"""
    return _timing(ctx, "PPAY", ("PROPERTY",))


# -- for the page -------------------------------------------------------------------------------

def fence_table(session, as_of: datetime) -> list[dict]:
    """Every fence the rules use, as computed from the data as of the moment (or why not)."""
    snap = data.snapshot(session, as_of)
    out = []

    def add(code: str, what: str, f: Fence, side: str):
        rule = flags.RULES[code]
        out.append({"规则": f"{code} {rule.name}", "分布": what, "样本数": f.n,
                    "最小样本": f.min_sample, "Q1": _r(f.q1), "Q3": _r(f.q3), "k": f.k,
                    "围栏": ("下围栏 " if side == "lower" else "上围栏 ")
                    + (str(_r(f.lower if side == "lower" else f.upper)) if f.ready else "—"),
                    "状态": "已计算" if f.ready else "样本不足，不判定"})

    th = flags.thresholds_of(session, [flags.RULES[code] for code in (
        "MKT-R024", "MKT-R058", "MKT-R038", "MKT-R025", "MKT-NONCOMP", "MKT-CONC")])
    add("MKT-R024", "次低价与中标价差额比例", gap_fence(snap, th["MKT-R024"]), "lower")
    add("MKT-R058", "次低价与中标价差额比例", gap_fence(snap, th["MKT-R058"]), "upper")
    fb, fs = disqualified_fences(snap, th["MKT-R038"])
    add("MKT-R038", "采购人否决比例", fb, "upper")
    add("MKT-R038", "投标人被否决比例", fs, "upper")
    counts, ratios = cover_bidding_fences(snap, th["MKT-R025"])
    out.append({"规则": "MKT-R025 " + flags.RULES["MKT-R025"].name, "分布": "投标人有效投标次数",
                "样本数": counts.n, "最小样本": counts.min_sample, "Q1": _r(counts.q1),
                "Q3": _r(counts.q3), "k": counts.k,
                "围栏": f"Q3 {_r(counts.q3)}" if counts.ready else "—",
                "状态": "已计算" if counts.ready else "样本不足，不判定"})
    add("MKT-R025", "投标人中标率", ratios, "lower")
    add("MKT-NONCOMP", "采购人非竞争方式占比", noncompetitive_fence(snap, th["MKT-NONCOMP"]), "upper")
    add("MKT-CONC", "采购人最大供应商金额占比", concentration_fence(snap, th["MKT-CONC"]), "upper")
    return out


def _r(x):
    return None if x is None else round(x, 4)
