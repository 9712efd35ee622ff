"""Deterministic demo data (演示数据): realistic names, items in all six domains and in key work.

The source's figures come out of the data, and the cockpit reads them back through the same
queries as every other number: 2,794 key tasks completed under supervision at 97% on time; 53 key
projects, 22 completed, node on-time rate 86%; 7 units criticized; 9 officials held accountable;
88 towns and 1,503 villages publishing over 900,000 items read over 8 million times.

Everything is relative to an anchor time (default: now), so a demo loaded today has items that
turn yellow and red over the coming days, as a live system would.
"""

from __future__ import annotations

import os
import random
from collections.abc import Callable
from datetime import date, datetime, time, timedelta

from sqlalchemy import func, insert, select, text
from sqlalchemy.orm import Session

from lib import audit, catalog, demo_history
from lib.clock import now_utc
from lib.config import TZ
from lib.models import (
    AccountabilityRecord,
    Item,
    ItemEvent,
    KeyProject,
    Notice,
    NoticeEvent,
    Person,
    Post,
    ProjectNode,
    Region,
    Subsystem,
    Unit,
    User,
    VillageDisclosure,
)
from lib.workdays import TimeLimit, load_calendar

# The source's figures, which the generated data must reproduce.
KEY_TASKS_COMPLETED = 2794
KEY_TASKS_ON_TIME = 2710  # 2710 / 2794 = 97.0 %
KEY_TASKS_OPEN = 146
KEY_PROJECTS = 53
KEY_PROJECTS_COMPLETED = 22
NODES_COMPLETED = 250
NODES_COMPLETED_ON_TIME = 215  # 215 / 250 = 86.0 %
UNITS_CRITICIZED = 7
OFFICIALS_ACCOUNTABLE = 9
VILLAGES = 1503
DISCLOSURE_MONTHS = 48

BASE_ORDINARY_ITEMS = 25_000
ACTOR = "演示数据"

# Demo accounts, one per role (listed in the README). Created only by the demo loader.
DEMO_ACCOUNTS = [
    ("admin", "赵明", "Guanli@2026", "admin", None),
    ("leader", "李国华", "Lingdao@2026", "leader", None),
    ("inspector", "陈静", "Jiancha@2026", "inspector", None),
    ("staff", "黄伟", "Jingban@2026", "staff", "440823.ZRZY"),
    ("staff_fg", "林芳", "Fagai@2026", "staff", "ZJ.FG"),
    ("reviewer", "省级检查组", "Shencha@2026", "reviewer", None),
]

NODE_TYPES = ["立项", "招标", "合同", "进度", "监理", "安全生产", "资金拨付"]

SURNAMES = list("陈李黄林吴张梁王杨何刘钟郑谢冯许邓莫庞符蔡周揭柯全戚洪詹龙苏卢")
GIVEN = list("伟强军平华建国明志海波文斌辉宁丽芳敏静娟燕红霞玲婷晓东永德光春秋雄杰涛鹏")
VILLAGE_HEADS = list("东西南北新旧上下大小前后高低")
VILLAGE_STEMS = list("坡岭塘田园港湾岭桥屋山湖沟垌墩仔埠寮")
VILLAGE_SURNAMES = list("陈李黄林吴张梁王杨何刘钟郑谢冯许邓莫庞符蔡")

# Public submissions (网络投诉) come from lib.demo_submissions, through the real work order.
SUBSYSTEM_WEIGHTS = {
    "APPROVAL": 34, "ENFORCE": 8, "FEES": 6, "PLANNING": 4, "PROCURE": 4, "BIDDING": 3,
    "LAND": 1, "PROPERTY": 1, "FISCAL": 5, "THREEPUB": 4, "RELIEF": 3, "FARMSUB": 3,
    "SOCSEC": 5, "HOUSING": 5, "GOVINFO": 3, "VILLAGE": 3,
}

TITLES = {
    "APPROVAL": ["建设工程规划许可证核发", "食品经营许可", "药品零售企业许可", "道路运输经营许可",
                 "排污许可证核发", "建筑工程施工许可证核发", "取水许可", "娱乐场所经营许可",
                 "医疗机构执业登记", "民办学校办学许可", "林木采伐许可证核发", "人力资源服务许可"],
    "ENFORCE": ["涉嫌无证经营案", "违法建设查处", "噪声污染查处", "超限运输查处",
                "食品安全抽检不合格案", "安全生产违法行为查处"],
    "FEES": ["不动产登记费收取", "城市道路占用费核定", "污水处理费核定", "车辆通行费退费审核"],
    "PLANNING": ["规划条件核定", "建设用地规划许可", "建设工程规划核实", "村庄规划审批"],
    "PROCURE": ["办公设备采购", "信息化系统采购", "物业管理服务采购", "公务用车定点维修采购"],
    "BIDDING": ["道路改造工程施工招标", "污水管网工程施工招标", "学校教学楼建设工程招标",
                "河道整治工程监理招标"],
    "LAND": ["国有建设用地使用权挂牌出让", "国有建设用地使用权拍卖出让"],
    "PROPERTY": ["国有资产公开拍卖", "国有企业股权转让", "经营性房产租赁权转让"],
    "FISCAL": ["专项资金拨付审核", "预算指标下达", "国库集中支付审核"],
    "THREEPUB": ["公务接待费报销审核", "公务用车运行维护费报销审核", "因公出国（境）费用审核"],
    "RELIEF": ["受灾群众临时救助", "低保对象认定", "防返贫监测帮扶资金发放"],
    "FARMSUB": ["耕地地力保护补贴发放", "农机购置补贴审核", "稻谷目标价格补贴发放"],
    "SOCSEC": ["养老保险待遇核定", "失业保险金申领", "工伤认定申请"],
    "HOUSING": ["住房公积金提取", "住房公积金贷款审批", "缴存基数调整"],
    "REPORT": ["举报违规收费", "举报公职人员违规吃喝", "举报工程转包"],
    "COMPLAIN": ["投诉道路积水未处理", "投诉噪声扰民", "投诉窗口服务态度"],
    "CONSULT": ["咨询社保关系转移办理", "咨询公积金提取条件", "咨询营业执照办理流程"],
    "SUGGEST": ["建议增设公交线路", "建议延长政务大厅办公时间", "建议增设停车位"],
    "GOVINFO": ["依申请公开：征地补偿方案", "依申请公开：项目环评批复", "依申请公开：财政预算明细"],
    "VILLAGE": ["村级财务公开审核", "村务公开栏更新核查", "集体资产处置公开核查"],
}
KEY_WORK_TITLES = [
    "推进营商环境综合改革", "落实河长制湖长制年度任务", "完成农村人居环境整治",
    "推进湛江港航道扩建配套工作", "落实“放管服”改革事项", "推进政务服务“一网通办”",
    "完成年度民生实事", "推进乡村振兴驻镇帮镇扶村", "推进城市更新改造", "落实安全生产专项整治",
    "推进海洋经济发展示范区建设", "完成耕地保护目标任务",
]
PROJECT_NAMES = [
    "城区主干道改造工程", "污水处理厂扩建工程", "滨海公园建设工程", "人民医院新院区建设",
    "港区疏港公路工程", "农产品冷链物流中心", "中小学学位扩建工程", "供水管网改造工程",
    "城乡生活垃圾处理中心", "海堤加固工程", "工业园区基础设施工程", "保障性住房建设工程",
]
COMPANY_WORDS = ["海湾", "南港", "粤西", "红土", "蓝海", "椰风", "雷州湾", "北部湾", "鼎盛", "广利"]
INDUSTRIES = ["建设", "贸易", "食品", "物流", "医药", "水产", "科技", "置业"]


def _person_name(rng: random.Random) -> str:
    return rng.choice(SURNAMES) + "".join(rng.choice(GIVEN) for _ in range(rng.choice((1, 2))))


def _local(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime.combine(day, time(hour, minute), tzinfo=TZ)


def _ts(dt: datetime) -> int:
    return int(dt.timestamp())


def is_loaded(session: Session) -> bool:
    return session.scalar(select(Item.id).limit(1)) is not None


class _Loader:
    def __init__(self, session: Session, rng: random.Random, anchor: datetime):
        self.s = session
        self.rng = rng
        self.anchor = anchor
        self.cal = load_calendar(session)
        self.subsystems = {x.code: x for x in session.scalars(select(Subsystem))}
        # Supervised units: every unit but the inspectors' own office.
        self.units = [u for u in session.scalars(select(Unit).order_by(Unit.id))
                      if u.code != catalog.INSPECTORS_UNIT]
        self.regions = {r.code: r for r in session.scalars(select(Region))}
        self.counties = [self.regions[c] for c, _ in catalog.COUNTIES]
        self.next_item_id = (session.scalar(select(func.max(Item.id))) or 0) + 1
        self.item_rows: list[dict] = []
        self.event_rows: list[dict] = []
        self.people_by_unit: dict[int, list[int]] = {}
        self.leaders_by_unit: dict[int, list[int]] = {}
        # Each unit has its own habits: some are late far more often than others.
        self.lateness = {u.id: rng.choice((0.3, 0.5, 0.8, 1.0, 1.0, 1.3, 1.8, 2.6, 3.5))
                         for u in self.units}
        # The demo staff accounts' units are among the late ones: whoever signs in as a unit
        # finds notices to acknowledge, rectifications to report and red cards to appeal.
        for _, _, _, _, code in DEMO_ACCOUNTS:
            for u in self.units:
                if code and u.code == code:
                    self.lateness[u.id] = 2.6

    # -- people and places -------------------------------------------------------------------
    def villages(self) -> None:
        towns = [r for r in self.regions.values() if r.level == "town"]
        towns.sort(key=lambda r: r.code)
        weights = [4 if t.name.endswith("街道") else self.rng.randint(12, 26) for t in towns]
        total = sum(weights)
        shares = [VILLAGES * w / total for w in weights]
        counts = [int(x) for x in shares]
        order = sorted(range(len(towns)), key=lambda i: shares[i] - counts[i], reverse=True)
        for i in order[: VILLAGES - sum(counts)]:
            counts[i] += 1
        rows = []
        for town, n in zip(towns, counts, strict=True):
            names: set[str] = set()
            while len(names) < n:
                if self.rng.random() < 0.5:
                    name = self.rng.choice(VILLAGE_SURNAMES) + self.rng.choice(("家村", "屋村", "宅村"))
                else:
                    name = (self.rng.choice(VILLAGE_HEADS) + self.rng.choice(VILLAGE_STEMS) + "村")
                if name in names:
                    name = name[:-1] + self.rng.choice(VILLAGE_STEMS) + "村"
                names.add(name)
            for j, name in enumerate(sorted(names)):
                rows.append({"code": f"{town.code[:9]}{200 + j:03d}", "name": name,
                             "level": "village", "parent_id": town.id})
        self.s.execute(insert(Region), rows)

    def people(self) -> None:
        posts_spec = [("主要负责人", "处级", 1), ("分管负责人", "处级", 2), ("业务科科长", "科级", 3),
                      ("窗口受理岗", "科员", 3)]
        for unit in self.units:
            ids, leaders = [], []
            for post_name, rank, n in posts_spec:
                post = Post(unit_id=unit.id, name=post_name)
                self.s.add(post)
                self.s.flush()
                for _ in range(n):
                    person = Person(name=_person_name(self.rng), unit_id=unit.id, post_id=post.id,
                                    rank=rank)
                    self.s.add(person)
                    self.s.flush()
                    ids.append(person.id)
                    if rank != "科员":
                        leaders.append(person.id)
            self.people_by_unit[unit.id] = ids
            self.leaders_by_unit[unit.id] = leaders

    # -- items -------------------------------------------------------------------------------
    def add_item(self, *, ext: str, sub: Subsystem, unit: Unit, region_id: int | None,
                 title: str, received: datetime | None, limit: TimeLimit | None,
                 completed: datetime | None, override: bool) -> int:
        item_id = self.next_item_id
        self.next_item_id += 1
        effective = limit or TimeLimit(sub.limit_value, sub.limit_unit)
        deadline = self.cal.deadline(received, effective) if received else None
        if completed is not None and completed > self.anchor:
            completed = None  # not done yet at the anchor: an open item
        handlers = self.people_by_unit.get(unit.id) or [None]
        self.item_rows.append({
            "id": item_id, "external_id": ext, "subsystem_id": sub.id, "unit_id": unit.id,
            "region_id": region_id, "handler_id": self.rng.choice(handlers), "title": title,
            "received_at": _ts(received) if received else None,
            "limit_value": effective.value if override else None,
            "limit_unit": effective.unit if override else None,
            "deadline": _ts(deadline) if deadline else None,
            "completed_at": _ts(completed) if completed else None,
            "state": "completed" if completed else "open",
            "updated_at": _ts(completed or received or self.anchor),
        })
        if received is not None:
            self.event_rows.append({"item_id": item_id, "at": _ts(received), "kind": "created",
                                    "from_state": None, "to_state": "open", "actor": ACTOR,
                                    "note": "受理"})
        if completed is not None:
            self.event_rows.append({"item_id": item_id, "at": _ts(completed), "kind": "completed",
                                    "from_state": "open", "to_state": "completed", "actor": ACTOR,
                                    "note": "办结"})
        if len(self.item_rows) >= 20_000:
            self.flush_items()
        return item_id

    def flush_items(self) -> None:
        if self.item_rows:
            self.s.execute(insert(Item.__table__), self.item_rows)
            self.item_rows = []
        if self.event_rows:
            self.s.execute(insert(ItemEvent.__table__), self.event_rows)
            self.event_rows = []

    def _received_time(self, day: date) -> datetime:
        return _local(day, self.rng.randint(8, 17), self.rng.choice((0, 10, 20, 30, 40, 50)))

    def _completion(self, received: datetime, deadline: datetime, late_p: float) -> datetime | None:
        """When the unit finishes: mostly well inside the limit, sometimes late, rarely never."""
        allowed = (deadline - received).total_seconds()
        r = self.rng.random()
        if r < late_p * 0.08:
            return None  # stuck: never finished
        if r < late_p:
            return deadline + timedelta(seconds=allowed * self.rng.uniform(0.02, 0.6))
        # A little of the work is finished in the last fifth of the time allowed (it lit yellow).
        if self.rng.random() < 0.04:
            share = self.rng.uniform(0.8, 0.995)
        else:
            share = self.rng.betavariate(2.0, 2.0) * 0.8
        return received + timedelta(seconds=allowed * share)

    def ordinary_items(self, n: int, days: int, progress: Callable[[int, int], None] | None) -> None:
        from lib import domains

        # Subsystems a domain package feeds from its own records get no plain items; the others
        # keep their share of the volume.
        covered = domains.covered_subsystems()
        codes = [c for c in SUBSYSTEM_WEIGHTS if c not in covered]
        weights = [SUBSYSTEM_WEIGHTS[c] for c in codes]
        by_dept: dict[str, list[Unit]] = {}
        for u in self.units:
            by_dept.setdefault(catalog.dept_of(u.code), []).append(u)
        specs = {s.code: s for s in catalog.SUBSYSTEMS}
        seq: dict[str, int] = {}
        towns = [r for r in self.regions.values() if r.level == "town"]
        start = self.anchor.astimezone(TZ).date() - timedelta(days=days)
        county_weights = [3, 3, 2, 3, 5, 4, 7, 7, 5]
        for k in range(n):
            code = self.rng.choices(codes, weights)[0]
            sub = self.subsystems[code]
            depts = specs[code].depts
            pool = [u for d in depts for u in by_dept.get(d, [])] if depts else self.units
            unit = self.rng.choice(pool)
            if unit.level == "county":
                region_id = unit.region_id
            else:
                region_id = self.rng.choices(self.counties, county_weights)[0].id
            day = start + timedelta(days=self.rng.randrange(days + 1))
            received = self._received_time(day)
            if received > self.anchor:
                received = self.anchor - timedelta(minutes=self.rng.randint(5, 600))
            limit, override = None, False
            if code == "APPROVAL":  # each approval matter has its own promised limit
                limit, override = TimeLimit(self.rng.choice((3, 5, 7, 10, 15, 20)), "wd"), True
            title = self.rng.choice(TITLES[code])
            if code in ("APPROVAL", "PROCURE", "BIDDING", "ENFORCE"):
                title += f"（{self.rng.choice(towns).name}"
                title += f"{self.rng.choice(COMPANY_WORDS)}{self.rng.choice(INDUSTRIES)}有限公司）"
            year = received.astimezone(TZ).year
            seq[code] = seq.get(code, 0) + 1
            ext = f"{code}-{year}-{seq[code]:07d}"
            if self.rng.random() < 0.002:  # a feed that lost the receipt time: grey, never green
                self.add_item(ext=ext, sub=sub, unit=unit, region_id=region_id, title=title,
                              received=None, limit=limit, completed=None, override=override)
                continue
            effective = limit or TimeLimit(sub.limit_value, sub.limit_unit)
            deadline = self.cal.deadline(received, effective)
            late_p = min(0.5, 0.03 * self.lateness[unit.id])
            completed = self._completion(received, deadline, late_p)
            self.add_item(ext=ext, sub=sub, unit=unit, region_id=region_id, title=title,
                          received=received, limit=limit, completed=completed, override=override)
            if progress and k % 5000 == 0:
                progress(k, n)
        self.flush_items()

    def key_work(self) -> dict[int, list[int]]:
        """2,794 completed key tasks (84 of them late) and the tasks still open. Returns the late
        tasks by unit, the cases behind the accountability records."""
        sub = self.subsystems["KEYWORK"]
        late = set(self.rng.sample(range(KEY_TASKS_COMPLETED), KEY_TASKS_COMPLETED - KEY_TASKS_ON_TIME))
        today = self.anchor.astimezone(TZ).date()
        late_by_unit: dict[int, list[int]] = {}
        for i in range(KEY_TASKS_COMPLETED + KEY_TASKS_OPEN):
            unit = self.rng.choice(self.units)
            limit = TimeLimit(self.rng.choice((15, 20, 30, 45, 60, 90)), "d")
            if i < KEY_TASKS_COMPLETED:
                # Completed, all before the anchor: received 3 years ago at most. Half the late
                # ones fall in the year the supervision notices have run (lib.demo_history).
                span = 3 * 365
                if i in late and self.rng.random() < 0.5:
                    span = demo_history.LIVE_DAYS
                day = today - timedelta(days=self.rng.randint(limit.value + 40, span))
                received = self._received_time(day)
                deadline = self.cal.deadline(received, limit)
                allowed = (deadline - received).total_seconds()
                if i in late:
                    completed = deadline + timedelta(seconds=allowed * self.rng.uniform(0.03, 0.3))
                else:
                    completed = received + timedelta(seconds=allowed * self.rng.uniform(0.3, 0.99))
            else:
                # Open tasks: a spread of time used, so some are yellow and a few red.
                day = today - timedelta(days=self.rng.randint(0, limit.value + 12))
                received = self._received_time(day)
                if received > self.anchor:
                    received = self.anchor - timedelta(hours=2)
                completed = None
            year = received.astimezone(TZ).year
            item_id = self.add_item(
                ext=f"KEYWORK-{year}-{i + 1:05d}", sub=sub, unit=unit, region_id=unit.region_id
                if unit.level == "county" else None,
                title=self.rng.choice(KEY_WORK_TITLES), received=received, limit=limit,
                completed=completed, override=True)
            if i in late:
                late_by_unit.setdefault(unit.id, []).append(item_id)
        self.flush_items()
        return late_by_unit

    def key_projects(self) -> None:
        """53 key projects, 22 completed; 250 nodes completed, 215 of them on time."""
        sub = self.subsystems["KEYPROJ"]
        builders = [u for u in self.units if catalog.dept_of(u.code) in ("FG", "ZJ", "JT", "SW")]
        today = self.anchor.astimezone(TZ).date()
        n_open = KEY_PROJECTS - KEY_PROJECTS_COMPLETED
        # Completed nodes of the ongoing projects: 250 − 22 × 7 = 96, spread over 31 projects.
        done_counts = [self.rng.randint(1, 5) for _ in range(n_open)]
        target = NODES_COMPLETED - KEY_PROJECTS_COMPLETED * len(NODE_TYPES)
        while sum(done_counts) != target:
            j = self.rng.randrange(n_open)
            if sum(done_counts) < target and done_counts[j] < 6:
                done_counts[j] += 1
            elif sum(done_counts) > target and done_counts[j] > 1:
                done_counts[j] -= 1
        late_nodes = set(self.rng.sample(range(NODES_COMPLETED), NODES_COMPLETED - NODES_COMPLETED_ON_TIME))
        node_no = 0
        for p in range(KEY_PROJECTS):
            completed_project = p < KEY_PROJECTS_COMPLETED
            unit = self.rng.choice(builders)
            county = self.rng.choice(self.counties)
            durations = [self.rng.randint(40, 75), self.rng.randint(30, 50), self.rng.randint(15, 30),
                         self.rng.randint(240, 420), 0, 0, self.rng.randint(30, 60)]
            total = sum(durations)
            if completed_project:
                start = today - timedelta(days=self.rng.randint(total + 120, total + 900))
                n_done = len(NODE_TYPES)
            else:
                n_done = done_counts[p - KEY_PROJECTS_COMPLETED]
                # Early enough that even the late nodes were finished before the anchor.
                start = today - timedelta(days=int(sum(durations[:n_done]) * 1.3)
                                          + self.rng.randint(30, 120))
            project = KeyProject(
                code=f"XM{2000 + p + 1}", name=county.name + self.rng.choice(PROJECT_NAMES),
                unit_id=unit.id, region_id=county.id, budget_wan=self.rng.randint(3, 120) * 1000,
                start_date=start, due_date=start + timedelta(days=total + 30), completed_on=None)
            self.s.add(project)
            self.s.flush()
            cursor = start
            nodes_window = (start, start)
            last_completion = None
            for seq, node_type in enumerate(NODE_TYPES):
                if node_type in ("监理", "安全生产"):  # run alongside construction
                    p_start, p_end = nodes_window
                else:
                    p_start, p_end = cursor, cursor + timedelta(days=durations[seq])
                    cursor = p_end
                    if node_type == "进度":
                        nodes_window = (p_start, p_end)
                received = _local(p_start, 9)
                limit = TimeLimit(max(1, (p_end - p_start).days), "d")
                deadline = self.cal.deadline(received, limit)
                allowed = (deadline - received).total_seconds()
                completed = None
                percent = 0
                if seq < n_done:
                    if node_no in late_nodes:
                        completed = deadline + timedelta(seconds=allowed * self.rng.uniform(0.04, 0.25))
                    else:
                        completed = received + timedelta(seconds=allowed * self.rng.uniform(0.6, 0.99))
                    # Completed nodes lie in the past, whatever the plan said.
                    completed = min(completed, self.anchor - timedelta(days=1 + self.rng.randint(0, 5)))
                    completed = max(completed, received + timedelta(hours=1))
                    node_no += 1
                    percent = 100
                    last_completion = completed
                elif seq == n_done:
                    percent = self.rng.randint(10, 85)
                item_id = self.add_item(
                    ext=f"{project.code}-{seq + 1}", sub=sub, unit=unit, region_id=county.id,
                    title=f"{project.name}·{node_type}", received=received, limit=limit,
                    completed=completed, override=True)
                self.flush_items()
                self.s.add(ProjectNode(item_id=item_id, project_id=project.id, node_type=node_type,
                                       seq=seq + 1, planned_start=p_start, planned_end=p_end,
                                       percent_done=percent))
            if completed_project and last_completion:
                project.completed_on = last_completion.astimezone(TZ).date()
        self.s.flush()

    def _notice_behind(self, item_id: int) -> tuple[int, date]:
        """A closed notice for a late key task, made by hand: only when the demo's history was
        not run (the benchmark's million items), so that the records still rest on notices."""
        item = self.s.get(Item, item_id)
        late = item.completed_at - item.deadline
        issued = item.deadline + min(timedelta(days=1), late / 2)
        notice = Notice(item_id=item.id, crossing=int(item.deadline.timestamp()),
                        unit_id=item.unit_id, source="系统自动督办（红牌）",
                        matter=f"重点工作督查督办事项 {item.external_id}《{item.title}》逾期未办结，亮红牌。",
                        requirements="请立即组织办理，并在回复期限前报告整改落实情况。",
                        reply_due=issued + timedelta(days=2), status="closed", level=1,
                        issued_at=issued, issued_by="系统（自动督办）",
                        acknowledged_at=issued + timedelta(hours=5),
                        rectification="已于逾期后完成任务，相关责任人已作检讨，建立提前预警台账。",
                        rectified_at=item.completed_at + timedelta(days=2),
                        closed_at=item.completed_at + timedelta(days=4))
        self.s.add(notice)
        self.s.flush()
        for at, action, actor in ((issued, "issued", "系统（自动督办）"),
                                  (notice.acknowledged_at, "acknowledged", "演示经办人"),
                                  (notice.rectified_at, "rectified", "演示经办人"),
                                  (notice.closed_at, "closed", "演示纪检监察员")):
            self.s.add(NoticeEvent(notice_id=notice.id, at=at, actor=actor, action=action, level=1))
        return notice.id, notice.closed_at.astimezone(TZ).date()

    def accountability(self, late_by_unit: dict[int, list[int]], *, lived: bool = True) -> None:
        """7 units criticized and 9 officials held accountable, each tied to a late key task and
        the supervision notice the sweep issued while it was overdue (closed since: the unit
        rectified and the inspectors verified it); decided some days after that."""
        today = self.anchor.astimezone(TZ).date()
        if lived:
            closed = dict(self.s.execute(select(Notice.item_id, Notice.closed_at).where(
                Notice.item_id.in_([i for ids in late_by_unit.values() for i in ids]),
                Notice.status == "closed")).all())
            cases = {u: [i for i in ids if i in closed] for u, ids in late_by_unit.items()}
        else:
            cases = late_by_unit
        units = sorted((u for u in cases if cases[u]), key=lambda u: (-len(cases[u]), u))
        made: dict[int, tuple[int, date]] = {}

        def behind(item_id: int) -> tuple[int, date]:
            if not lived:
                if item_id not in made:
                    made[item_id] = self._notice_behind(item_id)
                return made[item_id]
            notice_id = self.s.scalar(select(Notice.id).where(Notice.item_id == item_id))
            return notice_id, closed[item_id].astimezone(TZ).date()

        for uid in units[:UNITS_CRITICIZED]:
            item_id = cases[uid][0]
            notice_id, closed_on = behind(item_id)
            self.s.add(AccountabilityRecord(
                kind="criticism", unit_id=uid, item_id=item_id, notice_id=notice_id,
                decided_on=min(today, closed_on + timedelta(days=self.rng.randint(5, 40))),
                measure="通报批评", reason="重点工作推进不力、未按期落实，经督办后方整改到位"))
        measures = ["诫勉谈话", "责令书面检查", "通报批评", "警告处分", "调整工作岗位"]
        chosen: list[tuple[int, int, int]] = []
        for uid in units:
            for person_id in self.leaders_by_unit[uid]:
                if len(chosen) < OFFICIALS_ACCOUNTABLE and self.rng.random() < 0.5:
                    chosen.append((uid, person_id, self.rng.choice(cases[uid])))
                    break
        for uid, person_id, item_id in chosen:
            notice_id, closed_on = behind(item_id)
            self.s.add(AccountabilityRecord(
                kind="accountability", unit_id=uid, person_id=person_id, item_id=item_id,
                notice_id=notice_id,
                decided_on=min(today, closed_on + timedelta(days=self.rng.randint(5, 40))),
                measure=self.rng.choice(measures), reason="超时限完成重点工作任务"))
        self.s.flush()

    def accounts(self) -> None:
        from concurrent.futures import ThreadPoolExecutor

        from lib.auth import hash_password

        units = {u.code: u.id for u in self.units}
        # bcrypt releases the GIL: the accounts' hashes are computed side by side.
        with ThreadPoolExecutor(max_workers=os.cpu_count() or 2) as pool:
            hashes = list(pool.map(lambda a: hash_password(a[2], a[0]), DEMO_ACCOUNTS))
        for (username, name, _password, roles, unit_code), hashed in zip(DEMO_ACCOUNTS, hashes,
                                                                         strict=True):
            self.s.add(User(username=username, display_name=name,
                            password_hash=hashed, roles=roles,
                            unit_id=units[unit_code] if unit_code else None, active=True,
                            failed_logins=0, password_changed_at=self.anchor,
                            created_at=self.anchor))
        self.s.flush()

    def disclosures(self) -> None:
        villages = self.s.execute(
            select(Region.id).where(Region.level == "village").order_by(Region.id)).scalars().all()
        first = self.anchor.astimezone(TZ).date().replace(day=1)
        months = []
        y, m = first.year, first.month
        for _ in range(DISCLOSURE_MONTHS):
            months.append(date(y, m, 1))
            y, m = (y, m - 1) if m > 1 else (y - 1, 12)
        rows = []
        for vid in villages:
            activity = self.rng.uniform(0.6, 1.4)
            for month in months:
                party = round(self.rng.randint(1, 6) * activity)
                village = round(self.rng.randint(3, 9) * activity)
                finance = round(self.rng.randint(2, 7) * activity)
                views = round((party + village + finance) * self.rng.uniform(6, 12))
                rows.append({"village_id": vid, "month": month, "party_items": party,
                             "village_items": village, "finance_items": finance, "views": views})
            if len(rows) > 20_000:
                self.s.execute(insert(VillageDisclosure), rows)
                rows = []
        if rows:
            self.s.execute(insert(VillageDisclosure), rows)


# Service users rate finished cases of these subsystems (办事结果满意度, 好差评).
RATED_SUBSYSTEMS = ("APPROVAL", "FEES", "SOCSEC", "HOUSING", "GOVINFO", "RELIEF", "FARMSUB")


def _assessment(session: Session, rng: random.Random, anchor: datetime, days: int) -> None:
    """Ratings of finished cases, the public's online evaluations of units, and the periods
    the inspectors have already published (efficiency assessment, 行政效能)."""
    from sqlalchemy import BigInteger, bindparam, type_coerce, update

    from lib import scoring
    from lib.access import SYSTEM
    from lib.models import Evaluation

    units = [u for u in session.scalars(select(Unit).order_by(Unit.id))
             if u.code != catalog.INSPECTORS_UNIT]
    quality = {u.id: rng.uniform(-0.8, 0.8) for u in units}  # each unit's service manner
    done = type_coerce(Item.completed_at, BigInteger)
    due = type_coerce(Item.deadline, BigInteger)
    rows = session.execute(
        select(Item.id, Item.unit_id, done > due, done)
        .join(Subsystem, Subsystem.id == Item.subsystem_id)
        .where(Subsystem.code.in_(RATED_SUBSYSTEMS), Item.completed_at.is_not(None),
               Item.rating.is_(None))
        .order_by(Item.id)).all()
    updates = []
    last = _ts(anchor)
    for item_id, unit_id, late, done_at in rows:
        if rng.random() >= 0.35:
            continue
        base = 4.3 + quality.get(unit_id, 0) - (1.6 if late else 0)
        rated = int(done_at) + rng.randint(1800, 5 * 86400)  # within days of the result
        if rated > last:
            continue
        updates.append({"iid": item_id, "r": max(1, min(5, round(rng.gauss(base, 0.9)))),
                        "t": rated})
    if updates:
        items = Item.__table__
        session.execute(update(items).where(items.c.id == bindparam("iid"))
                        .values(rating=bindparam("r"), rated_at=bindparam("t")), updates)
    start = anchor - timedelta(days=days)
    evals = []
    for u in units:
        n = int(days / 30 * rng.uniform(3, 10))
        for _ in range(n):
            at = start + timedelta(seconds=rng.randrange(int((anchor - start).total_seconds())))
            r = max(1, min(5, round(rng.gauss(4.0 + quality[u.id], 1.0))))
            evals.append({"unit_id": u.id, "at": _ts(at), "rating": r})
    session.execute(insert(Evaluation.__table__), evals)
    session.flush()
    # What the inspectors have published so far: the quarters and the last two months that
    # have ended within the demo's span.
    first = start + timedelta(days=31)
    periods = [p for p in scoring.recent_periods(anchor, "quarter", 8)[::-1]
               if p.start >= first and p.end <= anchor]
    periods += [p for p in scoring.recent_periods(anchor, "month", 3)[::-1] if p.end <= anchor]
    for p in periods:
        scoring.publish(session, SYSTEM, p, "unit", now=p.end + timedelta(days=5)
                        if p.end + timedelta(days=5) <= anchor else anchor)


def load_demo(
    session: Session,
    *,
    seed: int = 2026,
    anchor: datetime | None = None,
    scale: float = 1.0,
    ordinary_items: int | None = None,
    days: int = 540,
    progress: Callable[[int, int], None] | None = None,
    history: bool = True,
    ready: Callable[[Session], None] | None = None,
) -> dict:
    """Fill an empty database with demo data. Raises ValueError if it already holds items.

    `history=False` leaves out the supervision sweep through the demo's past (lib.demo_history):
    for the benchmark's million items, where it would take hours. `ready`: called with the
    session once the catalogue, the villages and the people are written, before the records
    (`bench.build` starts its writers of generated items there, beside the rest of the demo)."""
    if is_loaded(session):
        raise ValueError("数据库中已有监察事项，演示数据只能载入空库（可先执行 init --reset）")
    anchor = (anchor or now_utc()).replace(microsecond=0)
    sqlite = session.get_bind().dialect.name == "sqlite"
    if sqlite:
        # The whole demo is one transaction, read back while it is written (the sweep through
        # its history scans the items hundreds of times): with SQLite's default 2 MB page cache
        # every scan goes back to the write-ahead log, three times slower.
        cache = session.execute(text("PRAGMA cache_size")).scalar()
        session.execute(text("PRAGMA cache_size=-65536"))
    try:
        return _load(session, seed=seed, anchor=anchor, scale=scale,
                     ordinary_items=ordinary_items, days=days, progress=progress, history=history,
                     ready=ready)
    finally:
        if sqlite:
            session.execute(text(f"PRAGMA cache_size={int(cache)}"))


def _load(session: Session, *, seed: int, anchor: datetime, scale: float,
          ordinary_items: int | None, days: int, progress, history: bool, ready=None) -> dict:
    rng = random.Random(seed)
    catalog.seed_catalog(session)
    loader = _Loader(session, rng, anchor)
    loader.villages()
    loader.people()
    if ready is not None:
        session.flush()
        ready(session)
    from lib import domains

    covered = domains.covered_subsystems()
    share = sum(w for c, w in SUBSYSTEM_WEIGHTS.items() if c not in covered) \
        / sum(SUBSYSTEM_WEIGHTS.values())
    # By default the subsystems a domain feeds itself give up their share of the plain items.
    n = ordinary_items if ordinary_items is not None else int(BASE_ORDINARY_ITEMS * scale * share)
    loader.ordinary_items(n, days, progress)
    late_by_unit = loader.key_work()
    loader.key_projects()
    loader.disclosures()
    loader.accounts()
    if session.get_bind().dialect.name == "postgresql":
        # Items were inserted with explicit ids: move the sequence past them.
        session.execute(text("SELECT setval(pg_get_serial_sequence('items', 'id'), "
                             "(SELECT MAX(id) FROM items))"))
    # The domains' own records and step items, before the history: their late steps get
    # notices and appeals like every other card.
    domains.load_demo(session, rng=random.Random(seed + 3), anchor=anchor, scale=scale)
    from lib import demo_submissions

    demo_submissions.load(session, random.Random(seed + 1), anchor)
    from lib import demo_forum

    demo_forum.load(session, random.Random(seed + 4), anchor)
    session.flush()
    # The cards the domains' rules find, before the history below, so that they too have
    # lived through the year's sweeps like every other item.
    from lib import flags

    flags.refresh(session, now=anchor, actor=ACTOR)
    if session.get_bind().dialect.name == "postgresql":
        # Fresh tables have no statistics yet: without them the planner picks nested loops
        # for the sweep's scan of every item, run hundreds of times below.
        session.execute(text("ANALYZE items, notices, subsystems"))
    # The supervision sweep through the demo's past; the accountability records rest on it.
    lived = demo_history.live(session, random.Random(seed + 3), anchor) if history else None
    loader.accountability(late_by_unit, lived=history)
    _assessment(session, random.Random(seed + 2), anchor, days)
    from lib import rollups

    # The counts of what can no longer change, built once over the loaded items (lib.rollups).
    rollups.rebuild(session, anchor)
    total = session.scalar(select(func.count()).select_from(Item))
    audit.record(session, actor=ACTOR, action="demo.load", entity="database",
                 after={"items": total, "seed": seed, "anchor": anchor, "history": lived,
                        "accounts": [a[0] for a in DEMO_ACCOUNTS]})
    return {"items": total, "anchor": anchor}
