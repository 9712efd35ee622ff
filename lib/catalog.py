"""Reference catalog: the six domains, their subsystems, Zhanjiang's region tree and its units.

`seed_catalog` writes what is missing (idempotent); `catalog_rows` lists it for
`python -m lib catalog`. Codes are stable: other systems and imported files refer to them.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from sqlalchemy import literal, select, union_all
from sqlalchemy.orm import Session

from lib.models import Domain, Region, Subsystem, Unit

CITY = ("440800", "湛江市")

COUNTIES = [
    ("440802", "赤坎区"),
    ("440803", "霞山区"),
    ("440804", "坡头区"),
    ("440811", "麻章区"),
    ("440823", "遂溪县"),
    ("440825", "徐闻县"),
    ("440881", "廉江市"),
    ("440882", "雷州市"),
    ("440883", "吴川市"),
]

# 88 towns and sub-districts (乡镇、街道) covered by 村务e路通, by county.
TOWNS = {
    "440802": ["调顺街道", "南桥街道"],
    "440803": ["爱国街道", "东新街道"],
    "440804": ["坡头镇", "乾塘镇", "龙头镇", "南三镇", "官渡镇", "麻斜街道"],
    "440811": ["麻章镇", "湖光镇", "太平镇", "东山街道", "东简街道", "民安街道"],
    "440823": [
        "遂城镇", "黄略镇", "洋青镇", "界炮镇", "乐民镇", "江洪镇", "杨柑镇", "城月镇",
        "乌塘镇", "建新镇", "岭北镇", "北坡镇", "港门镇", "草潭镇", "河头镇",
    ],
    "440825": [
        "徐城街道", "下洋镇", "锦和镇", "和安镇", "新寮镇", "前山镇", "西连镇", "迈陈镇",
        "海安镇", "曲界镇", "下桥镇", "龙塘镇", "角尾乡",
    ],
    "440881": [
        "安铺镇", "营仔镇", "车板镇", "高桥镇", "横山镇", "石岭镇", "吉水镇", "河唇镇",
        "石角镇", "良垌镇", "新民镇", "长山镇", "雅塘镇", "石颈镇", "塘蓬镇", "和寮镇",
        "青平镇", "石城镇",
    ],
    "440882": [
        "白沙镇", "沈塘镇", "客路镇", "杨家镇", "唐家镇", "企水镇", "纪家镇", "松竹镇",
        "南兴镇", "雷高镇", "东里镇", "调风镇", "龙门镇", "英利镇", "北和镇", "乌石镇",
    ],
    "440883": [
        "塘缀镇", "长岐镇", "浅水镇", "振文镇", "樟铺镇", "吴阳镇", "王村港镇", "兰石镇",
        "覃巴镇", "黄坡镇",
    ],
}

DOMAINS = [
    ("POWER", "权力运行"),
    ("MARKET", "要素市场"),
    ("FUNDS", "专项资金"),
    ("COMPLAINT", "网络投诉"),
    ("EFFICIENCY", "行政效能"),
    ("DISCLOSURE", "信息公开"),
]


@dataclass(frozen=True)
class SubsystemSpec:
    code: str
    name: str
    domain: str
    limit: str  # default time limit, e.g. '20wd'
    depts: tuple[str, ...] | None  # departments that handle it; None: every unit


# Every subsystem the source names, grouped under its domain, plus key work and key projects.
SUBSYSTEMS = [
    SubsystemSpec("APPROVAL", "行政审批", "POWER", "20wd", None),
    SubsystemSpec("ENFORCE", "行政执法", "POWER", "30wd", ("SCJG", "CGZF", "STHJ", "JT", "YJ", "WJ")),
    SubsystemSpec("FEES", "行政收费", "POWER", "5wd", ("ZRZY", "ZJ", "SCJG", "GA", "JT")),
    SubsystemSpec("PLANNING", "城乡规划", "POWER", "20wd", ("ZRZY", "ZJ")),
    SubsystemSpec("PROCURE", "政府采购", "MARKET", "30d", ("GGZY", "CZ")),
    SubsystemSpec("BIDDING", "工程招投标", "MARKET", "20d", ("GGZY", "ZJ", "JT", "SW")),
    SubsystemSpec("LAND", "土地交易", "MARKET", "20wd", ("GGZY", "ZRZY")),
    SubsystemSpec("PROPERTY", "产权交易", "MARKET", "20wd", ("GGZY", "GZW")),
    SubsystemSpec("FISCAL", "财政资金运行", "FUNDS", "10wd", ("CZ",)),
    SubsystemSpec("THREEPUB", "“三公”经费", "FUNDS", "5wd", None),
    SubsystemSpec("RELIEF", "扶贫救灾资金", "FUNDS", "15wd", ("MZ", "YJ", "NY")),
    SubsystemSpec("FARMSUB", "惠农补贴资金", "FUNDS", "20wd", ("NY", "CZ")),
    SubsystemSpec("SOCSEC", "社保基金", "FUNDS", "10wd", ("RS", "YB")),
    SubsystemSpec("HOUSING", "住房公积金", "FUNDS", "5wd", ("GJJ",)),
    SubsystemSpec("REPORT", "网上举报", "COMPLAINT", "15wd", None),
    SubsystemSpec("COMPLAIN", "网上投诉", "COMPLAINT", "10wd", None),
    SubsystemSpec("CONSULT", "网上咨询", "COMPLAINT", "5wd", None),
    SubsystemSpec("SUGGEST", "网上建议", "COMPLAINT", "10wd", None),
    SubsystemSpec("KEYWORK", "重点工作督查督办", "EFFICIENCY", "30d", None),
    SubsystemSpec("KEYPROJ", "重点项目督查督办", "EFFICIENCY", "30d", ("FG", "ZJ", "JT", "SW")),
    SubsystemSpec("GOVINFO", "政府信息公开", "DISCLOSURE", "20wd", None),
    SubsystemSpec("VILLAGE", "村务e路通", "DISCLOSURE", "10d", ("NY",)),
]

# Municipal departments (市直单位): (department key, name).
MUNICIPAL_DEPTS = [
    ("FG", "湛江市发展和改革局"),
    ("JY", "湛江市教育局"),
    ("KJ", "湛江市科学技术局"),
    ("GX", "湛江市工业和信息化局"),
    ("GA", "湛江市公安局"),
    ("MZ", "湛江市民政局"),
    ("SF", "湛江市司法局"),
    ("CZ", "湛江市财政局"),
    ("RS", "湛江市人力资源和社会保障局"),
    ("ZRZY", "湛江市自然资源局"),
    ("STHJ", "湛江市生态环境局"),
    ("ZJ", "湛江市住房和城乡建设局"),
    ("JT", "湛江市交通运输局"),
    ("SW", "湛江市水务局"),
    ("NY", "湛江市农业农村局"),
    ("SWU", "湛江市商务局"),
    ("WGLT", "湛江市文化广电旅游体育局"),
    ("WJ", "湛江市卫生健康局"),
    ("TYJR", "湛江市退役军人事务局"),
    ("YJ", "湛江市应急管理局"),
    ("SCJG", "湛江市市场监督管理局"),
    ("YB", "湛江市医疗保障局"),
    ("CGZF", "湛江市城市管理和综合执法局"),
    ("ZSJ", "湛江市政务服务和数据管理局"),
    ("GZW", "湛江市人民政府国有资产监督管理委员会"),
    ("LY", "湛江市林业局"),
    ("GJJ", "湛江市住房公积金管理中心"),
    ("GGZY", "湛江市公共资源交易中心"),
    ("JW", "湛江市纪委监委"),
]

# The discipline inspectors' own office: submissions no rule places wait in its queue.
INSPECTORS_DEPT = "JW"
INSPECTORS_UNIT = "ZJ.JW"

# Departments every county-level government has (县级部门): (key, name after the county's name).
COUNTY_DEPTS = [
    ("ZRZY", "自然资源局"),
    ("ZJ", "住房和城乡建设局"),
    ("NY", "农业农村局"),
    ("RS", "人力资源和社会保障局"),
    ("CZ", "财政局"),
    ("SCJG", "市场监督管理局"),
    ("MZ", "民政局"),
    ("ZSJ", "政务服务和数据管理局"),
]


def unit_code(region_code: str, dept: str) -> str:
    """'ZJ.FG' for a municipal department, '440823.ZRZY' for a county one."""
    return f"ZJ.{dept}" if region_code == CITY[0] else f"{region_code}.{dept}"


def dept_of(code: str) -> str:
    return code.split(".", 1)[1]


def town_code(county: str, index: int) -> str:
    return f"{county}{100 + index:03d}000"


@lru_cache(maxsize=1)
def _codes() -> frozenset[tuple[str, str]]:
    """(table, code) of every row `seed_catalog` writes."""
    regions = [CITY[0], *(c for c, _ in COUNTIES),
               *(town_code(county, i) for county, towns in TOWNS.items()
                 for i in range(len(towns)))]
    units = [unit_code(CITY[0], d) for d, _ in MUNICIPAL_DEPTS] + [
        unit_code(county, d) for county, _ in COUNTIES for d, _ in COUNTY_DEPTS]
    return frozenset([("region", c) for c in regions] + [("domain", c) for c, _ in DOMAINS]
                     + [("subsystem", s.code) for s in SUBSYSTEMS] + [("unit", c) for c in units])


def catalog_complete(session: Session) -> bool:
    """Whether every row `seed_catalog` would write is there: one read of the codes, no ORM
    objects (the check every app process makes once when it starts)."""
    stmt = union_all(
        select(literal("region"), Region.code).where(Region.level.in_(("city", "county", "town"))),
        select(literal("domain"), Domain.code),
        select(literal("subsystem"), Subsystem.code),
        select(literal("unit"), Unit.code))
    return _codes() <= set(session.execute(stmt))


def seed_catalog(session: Session) -> None:
    """Write the domains, subsystems, city, counties, towns and units that are missing."""
    from lib.workdays import parse_limit

    if catalog_complete(session):
        return

    regions = {r.code: r for r in session.scalars(select(Region))}
    if CITY[0] not in regions:
        regions[CITY[0]] = Region(code=CITY[0], name=CITY[1], level="city")
        session.add(regions[CITY[0]])
        session.flush()
    city = regions[CITY[0]]
    for code, name in COUNTIES:
        if code not in regions:
            regions[code] = Region(code=code, name=name, level="county", parent_id=city.id)
            session.add(regions[code])
    session.flush()
    for county, towns in TOWNS.items():
        for i, name in enumerate(towns):
            code = town_code(county, i)
            if code not in regions:
                session.add(
                    Region(code=code, name=name, level="town", parent_id=regions[county].id)
                )

    domains = {d.code: d for d in session.scalars(select(Domain))}
    for order, (code, name) in enumerate(DOMAINS):
        if code not in domains:
            domains[code] = Domain(code=code, name=name, sort_order=order)
            session.add(domains[code])
    session.flush()
    existing = set(session.scalars(select(Subsystem.code)))
    for order, spec in enumerate(SUBSYSTEMS):
        if spec.code not in existing:
            limit = parse_limit(spec.limit)
            session.add(
                Subsystem(
                    code=spec.code, name=spec.name, domain_id=domains[spec.domain].id,
                    limit_value=limit.value, limit_unit=limit.unit, yellow_pct=20,
                    sort_order=order,
                )
            )

    units = set(session.scalars(select(Unit.code)))
    for dept, name in MUNICIPAL_DEPTS:
        code = unit_code(CITY[0], dept)
        if code not in units:
            session.add(Unit(code=code, name=name, level="municipal", region_id=city.id))
    for county, county_name in COUNTIES:
        for dept, suffix in COUNTY_DEPTS:
            code = unit_code(county, dept)
            if code not in units:
                session.add(
                    Unit(code=code, name=county_name + suffix, level="county",
                         region_id=regions[county].id)
                )
    session.flush()


def catalog_rows(session: Session) -> list[dict]:
    """Every region, unit, domain and subsystem as (kind, code, name, parent code)."""
    rows: list[dict] = []
    region_code = dict(session.execute(select(Region.id, Region.code)).all())
    for r in session.scalars(select(Region).order_by(Region.code)):
        rows.append({"kind": "region", "code": r.code, "name": r.name,
                     "parent": region_code.get(r.parent_id, "")})
    for u in session.scalars(select(Unit).order_by(Unit.code)):
        rows.append({"kind": "unit", "code": u.code, "name": u.name,
                     "parent": region_code[u.region_id]})
    domain_code = {}
    for d in session.scalars(select(Domain).order_by(Domain.sort_order)):
        domain_code[d.id] = d.code
        rows.append({"kind": "domain", "code": d.code, "name": d.name, "parent": ""})
    for s in session.scalars(select(Subsystem).order_by(Subsystem.sort_order)):
        rows.append({"kind": "subsystem", "code": s.code, "name": s.name,
                     "parent": domain_code[s.domain_id]})
    from lib import domains

    for p in domains.packages():  # a domain's own reference data (matters, programs …)
        if hasattr(p, "catalog_rows"):
            rows.extend(p.catalog_rows(session))
    return rows
