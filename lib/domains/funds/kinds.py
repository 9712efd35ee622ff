"""Import kinds of 专项资金: programs, payments, and the register of deaths and closed
enterprises (lib.exchange: all rows or none, row-numbered Chinese messages).

No identity number or account number is stored, printed or exported in clear: the importer keeps
their keyed hashes and ciphertext, its messages never repeat them, and an export leaves them
empty (a re-import of an exported payment keeps the payee and account it has).
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from lib import audit
from lib.catalog import SUBSYSTEMS
from lib.clock import now_utc
from lib.config import TZ
from lib.domains.funds import ids
from lib.domains.funds.models import (
    FundAccount,
    FundPayee,
    FundPayment,
    FundProgram,
    FundRegisterEntry,
    FundResident,
)
from lib.exchange import Column, ImportResult, Kind, Row, register, row_error
from lib.items import upsert_item
from lib.models import Region, Subsystem, Unit
from lib.workdays import TimeLimit, load_calendar

DOMAIN = "FUNDS"
FUND_LINES = tuple(s.code for s in SUBSYSTEMS if s.domain == DOMAIN)
FUND_LINE_NAMES = tuple(s.name for s in SUBSYSTEMS if s.domain == DOMAIN)
ITEM_PREFIX = "PAY."


def _units(session: Session) -> tuple[dict, dict]:
    units = list(session.scalars(select(Unit)))
    return {u.code: u for u in units}, {u.name: u for u in units}


def _unit(row: Row, col: str, by_code: dict, by_name: dict, errors: list):
    unit = by_code.get(row[col]) or by_name.get(row[col])
    if unit is None:
        errors.append(row_error(row, f"未知单位“{row[col]}”（请填写单位代码或全称）"))
    return unit


# -- programs ------------------------------------------------------------------------------------

PROGRAM_COLUMNS = (
    Column("code", "项目编号", max_len=24, example="NY2026-GDDL",
           help="资金项目编号；再次导入同一编号即更新该项目"),
    Column("name", "项目名称", max_len=100, example="2026年耕地地力保护补贴"),
    Column("fund_line", "资金类别", "choice", choices=FUND_LINES, choice_labels=FUND_LINE_NAMES,
           example="FARMSUB", help="专项资金子系统代码（见 catalog）：" + "、".join(
               f"{c}（{n}）" for c, n in zip(FUND_LINES, FUND_LINE_NAMES, strict=True))),
    Column("unit", "主管单位", example="440823.NY", help="单位代码或全称"),
    Column("year", "年度", "int", minimum=2000, example="2026"),
    Column("budget", "预算金额（元）", "money", minimum=0, example="12000000.00"),
    Column("standard_amount", "单笔标准（元）", "money", required=False, minimum=0,
           example="1500.00", help="每笔发放的标准或上限；留空为无标准"),
    Column("monthly_cap", "每人每月上限（元）", "money", required=False, minimum=0, example="",
           help="同一收款人在本项目一个自然月内的累计上限；留空为无上限"),
    Column("pay_within_days", "审批后发放时限（天）", "int", required=False, minimum=1, example="15",
           help="审批通过后须在多少个自然日内发放到位；留空按资金类别的默认时限"),
)


def _resolve_programs(session: Session, rows: list[Row]) -> list[str]:
    by_code, by_name = _units(session)
    subs = {s.code: s for s in session.scalars(select(Subsystem).where(
        Subsystem.code.in_(FUND_LINES)))}
    errors: list[str] = []
    for row in rows:
        row.refs["unit"] = _unit(row, "unit", by_code, by_name, errors)
        row.refs["subsystem"] = subs.get(row["fund_line"])
        if row.refs["subsystem"] is None:
            errors.append(row_error(row, f"资金类别“{row['fund_line']}”尚未建立（先运行 init）"))
        if row["year"] > 2100:
            errors.append(row_error(row, "年度无效"))
    return errors


def _program_values(row: Row) -> dict:
    return {"name": row["name"], "subsystem_id": row.refs["subsystem"].id,
            "unit_id": row.refs["unit"].id, "year": row["year"], "budget": row["budget"],
            "standard_amount": row["standard_amount"], "monthly_cap": row["monthly_cap"],
            "pay_within_days": row["pay_within_days"]}


def _same(a, b) -> bool:
    if a is None or b is None:
        return a is None and b is None
    if isinstance(a, (Decimal, float)) or isinstance(b, (Decimal, float)):
        return Decimal(str(a)).quantize(Decimal("0.01")) == Decimal(str(b)).quantize(Decimal("0.01"))
    return a == b


def _apply_programs(session: Session, rows: list[Row], actor: str) -> ImportResult:
    result = ImportResult()
    existing = {p.code: p for p in session.scalars(select(FundProgram).where(
        FundProgram.code.in_([r["code"] for r in rows])))}
    for row in rows:
        values = _program_values(row)
        program = existing.get(row["code"])
        if program is None:
            session.add(FundProgram(code=row["code"], **values))
            audit.record(session, actor=actor, action="fund.program.create", entity="fund_program",
                         entity_id=row["code"], after=values)
            result.count("created", row["code"])
            continue
        before = {k: getattr(program, k) for k in values}
        if all(_same(before[k], v) for k, v in values.items()):
            result.count("unchanged", row["code"])
            continue
        for k, v in values.items():
            setattr(program, k, v)
        audit.record(session, actor=actor, action="fund.program.update", entity="fund_program",
                     entity_id=row["code"], before=before, after=values)
        result.count("updated", row["code"])
    session.flush()
    return result


def _export_programs(session: Session):
    units = dict(session.execute(select(Unit.id, Unit.code)).all())
    subs = dict(session.execute(select(Subsystem.id, Subsystem.code)).all())
    for p in session.scalars(select(FundProgram).order_by(FundProgram.code)):
        yield {"code": p.code, "name": p.name, "fund_line": subs[p.subsystem_id],
               "unit": units[p.unit_id], "year": p.year, "budget": p.budget,
               "standard_amount": p.standard_amount, "monthly_cap": p.monthly_cap,
               "pay_within_days": p.pay_within_days}


# -- payments ------------------------------------------------------------------------------------

PAYMENT_COLUMNS = (
    Column("external_id", "发放编号", max_len=56, example="NY2026-GDDL-000123",
           help="发放记录的唯一编号；再次导入同一编号即更新该记录"),
    Column("program", "项目编号", max_len=24, example="NY2026-GDDL"),
    Column("unit", "发放单位", example="440823.NY", help="单位代码或全称"),
    Column("payee_id", "收款人证件号", required=False, max_len=40, example="",
           help="18 位居民身份证号或统一社会信用代码。只保存其密钥散列（用于比对）和密文（仅纪检监察"
                "人员可查看，每次查看留痕），不以明文保存或导出。新记录必填；更新已有记录时留空即保持不变"),
    Column("payee_name", "收款人", max_len=64, example="陈伟强",
           help="更新已有记录且证件号留空时，不改变收款人"),
    Column("village", "所在村（居）", required=False, example="440823101200",
           help="行政村代码，或“镇名村名”；可留空"),
    Column("amount", "金额（元）", "money", minimum=0.01, example="1380.50"),
    Column("approved_at", "审批时间", "datetime", example="2026-03-02T09:30"),
    Column("paid_at", "发放时间", "datetime", required=False, example="2026-03-10T15:00",
           help="留空：已审批、尚未发放（按时限亮灯）"),
    Column("account", "收款账号", required=False, max_len=40, example="",
           help="银行卡或社保卡账号（12–30 位数字）。只保存密钥散列和密文；新记录必填，"
                "更新已有记录时留空即保持不变"),
)


def _villages(session: Session) -> tuple[dict, dict]:
    """Villages by code, and by name: "镇名村名" always, the bare name when it is unique."""
    towns = dict(session.execute(select(Region.id, Region.name).where(Region.level == "town")).all())
    by_code: dict[str, int] = {}
    by_name: dict[str, int | None] = {}
    for i, code, name, parent in session.execute(
            select(Region.id, Region.code, Region.name, Region.parent_id)
            .where(Region.level == "village")):
        by_code[code] = i
        by_name[towns.get(parent, "") + name] = i
        by_name[name] = None if name in by_name else i
    return by_code, by_name


def _resolve_payments(session: Session, rows: list[Row]) -> list[str]:
    by_code, by_name = _units(session)
    programs = {p.code: p for p in session.scalars(select(FundProgram))}
    v_code, v_name = _villages(session)
    existing = set(session.scalars(select(FundPayment.external_id).where(
        FundPayment.external_id.in_([r["external_id"] for r in rows]))))
    now = now_utc()
    h = ids.Hasher()
    errors: list[str] = []
    for row in rows:
        row.refs["unit"] = _unit(row, "unit", by_code, by_name, errors)
        program = programs.get(row["program"])
        if program is None:
            errors.append(row_error(row, f"未知项目“{row['program']}”（请先导入资金项目）"))
        row.refs["program"] = program
        village = row["village"]
        row.refs["village_id"] = None
        if village is not None:
            vid = v_code.get(village) or v_name.get(village)
            if vid is None:
                errors.append(row_error(row, f"未知或重名的村（居）“{village}”（请填写行政村代码）"))
            row.refs["village_id"] = vid
        new = row["external_id"] not in existing
        row.refs["new"] = new
        pid, acct = row["payee_id"], row["account"]
        if pid is None:
            if new:
                errors.append(row_error(row, "新发放记录须填写收款人证件号 payee_id"))
        else:
            kind = ids.kind_of(pid)
            if kind is None:
                errors.append(row_error(row, "收款人证件号 payee_id 格式不符（须为 18 位居民身份证号"
                                             "（校验位正确）或统一社会信用代码；出于保护，此处不显示该号码）"))
            row.refs["payee"] = (kind, h.payee(pid), pid)
        if acct is None:
            if new:
                errors.append(row_error(row, "新发放记录须填写收款账号 account"))
        else:
            if not ids.account_ok(acct):
                errors.append(row_error(row, "收款账号 account 须为 12–30 位数字（出于保护，此处不显示该账号）"))
            row.refs["account"] = (h.account(acct), acct)
        if row["paid_at"] is not None:
            if row["paid_at"] < row["approved_at"]:
                errors.append(row_error(row, "发放时间早于审批时间"))
            if row["paid_at"] > now:
                errors.append(row_error(row, "发放时间晚于当前时间"))
        if row["approved_at"] > now:
            errors.append(row_error(row, "审批时间晚于当前时间"))
    return errors


def payment_title(program_name: str, payee_name: str) -> str:
    return f"{program_name}·{ids.masked_name(payee_name)}"[:200]


def _get_payees(session: Session, wanted: dict[str, tuple]) -> dict[str, FundPayee]:
    found = {p.id_hash: p for p in session.scalars(select(FundPayee).where(
        FundPayee.id_hash.in_(list(wanted))))} if wanted else {}
    for digest, (kind, clear, name) in wanted.items():
        if digest not in found:
            p = FundPayee(id_hash=digest, id_enc=ids.encrypt(clear), name=name, kind=kind)
            session.add(p)
            found[digest] = p
    session.flush()
    return found


def _get_accounts(session: Session, wanted: dict[str, str]) -> dict[str, FundAccount]:
    found = {a.hash: a for a in session.scalars(select(FundAccount).where(
        FundAccount.hash.in_(list(wanted))))} if wanted else {}
    for digest, clear in wanted.items():
        if digest not in found:
            a = FundAccount(hash=digest, enc=ids.encrypt(clear))
            session.add(a)
            found[digest] = a
    session.flush()
    return found


def _apply_payments(session: Session, rows: list[Row], actor: str) -> ImportResult:
    result = ImportResult()
    cal = load_calendar(session)
    subs = {s.id: s for s in session.scalars(select(Subsystem))}
    county_of = dict(session.execute(
        select(Region.id, Region.parent_id).where(Region.level.in_(("village", "town")))).all())
    payees = _get_payees(session, {r.refs["payee"][1]: (r.refs["payee"][0], r.refs["payee"][2],
                                                        r["payee_name"])
                                   for r in rows if r.get("payee_id") is not None})
    accounts = _get_accounts(session, {r.refs["account"][0]: r.refs["account"][1]
                                       for r in rows if r.get("account") is not None})
    existing = {p.external_id: p for p in session.scalars(select(FundPayment).where(
        FundPayment.external_id.in_([r["external_id"] for r in rows])))}
    for row in rows:
        program: FundProgram = row.refs["program"]
        unit = row.refs["unit"]
        payment = existing.get(row["external_id"])
        payee = payees[row.refs["payee"][1]] if row["payee_id"] is not None else None
        if payee is not None and payee.name != row["payee_name"]:
            payee.name = row["payee_name"]
        account = accounts[row.refs["account"][0]] if row["account"] is not None else None
        village_id = row.refs["village_id"]
        region_id = unit.region_id if unit.level == "county" else None
        if region_id is None and village_id is not None:
            town = county_of.get(village_id)
            region_id = county_of.get(town)
        limit = TimeLimit(program.pay_within_days, "d") if program.pay_within_days else None
        shown_payee = payee.name if payee is not None else (
            session.get(FundPayee, payment.payee_id).name if payment else row["payee_name"])
        item, outcome = upsert_item(
            session, cal, external_id=ITEM_PREFIX + row["external_id"],
            subsystem=subs[program.subsystem_id], unit_id=unit.id,
            received_at=row["approved_at"], limit=limit, completed_at=row["paid_at"],
            actor=actor, title=payment_title(program.name, shown_payee), region_id=region_id,
            note="资金发放导入")
        values = {"program_id": program.id, "unit_id": unit.id, "village_id": village_id,
                  "amount": row["amount"], "approved_at": row["approved_at"],
                  "paid_at": row["paid_at"]}
        if payee is not None:
            values["payee_id"] = payee.id
        if account is not None:
            values["account_id"] = account.id
        if payment is None:
            session.add(FundPayment(external_id=row["external_id"], item_id=item.id, **values))
            result.count("created", row["external_id"])
            continue
        changed = [k for k, v in values.items() if not _same_value(getattr(payment, k), v)]
        if not changed and outcome == "unchanged":
            result.count("unchanged", row["external_id"])
            continue
        before = {k: _plain(getattr(payment, k)) for k in changed}
        for k in changed:
            setattr(payment, k, values[k])
        # The audit keeps which fields changed; payee and account only as internal ids.
        audit.record(session, actor=actor, action="fund.payment.update", entity="fund_payment",
                     entity_id=row["external_id"], before=before,
                     after={k: _plain(values[k]) for k in changed})
        result.count("updated", row["external_id"])
    session.flush()
    return result


def _plain(value):
    if isinstance(value, datetime):
        return value.astimezone(TZ).isoformat()
    if isinstance(value, Decimal):
        return str(value)
    return value


def _same_value(a, b) -> bool:
    if isinstance(a, datetime) and isinstance(b, datetime):
        return int(a.timestamp()) == int(b.timestamp())
    return _same(a, b)


def _export_payments(session: Session):
    programs = dict(session.execute(select(FundProgram.id, FundProgram.code)).all())
    units = dict(session.execute(select(Unit.id, Unit.code)).all())
    villages = dict(session.execute(select(Region.id, Region.code)
                                    .where(Region.level == "village")).all())
    names = dict(session.execute(select(FundPayee.id, FundPayee.name)).all())
    for p in session.scalars(select(FundPayment).order_by(FundPayment.external_id)):
        # Identity numbers and accounts never leave; names leave masked.
        yield {"external_id": p.external_id, "program": programs[p.program_id],
               "unit": units[p.unit_id], "payee_id": None,
               "payee_name": ids.masked_name(names[p.payee_id]),
               "village": villages.get(p.village_id), "amount": p.amount,
               "approved_at": p.approved_at, "paid_at": p.paid_at, "account": None}


# -- register of deaths and closed enterprises -----------------------------------------------------

DEATH_COLUMNS = (
    Column("payee_id", "证件号", max_len=40, example="",
           help="死亡人员的 18 位居民身份证号，或已注销企业的统一社会信用代码；只保存其密钥散列"),
    Column("died_on", "死亡或注销日期", "date", example="2026-05-17"),
)


def _resolve_deaths(session: Session, rows: list[Row]) -> list[str]:
    h = ids.Hasher()
    errors: list[str] = []
    seen: dict[str, int] = {}
    for row in rows:
        kind = ids.kind_of(row["payee_id"])
        if kind is None:
            errors.append(row_error(row, "证件号 payee_id 格式不符（须为 18 位居民身份证号或统一社会"
                                         "信用代码；出于保护，此处不显示该号码）"))
            continue
        digest = h.payee(row["payee_id"])
        if digest in seen:
            errors.append(row_error(row, f"证件号与第{seen[digest]}行重复"))
        seen[digest] = row.line
        if row["died_on"] > now_utc().astimezone(TZ).date():
            errors.append(row_error(row, "死亡或注销日期晚于今天"))
        row.refs["entry"] = (digest, kind)
    return errors


def _apply_deaths(session: Session, rows: list[Row], actor: str) -> ImportResult:
    result = ImportResult()
    existing = {e.id_hash: e for e in session.scalars(select(FundRegisterEntry).where(
        FundRegisterEntry.id_hash.in_([r.refs["entry"][0] for r in rows])))}
    for row in rows:
        digest, kind = row.refs["entry"]
        entry = existing.get(digest)
        if entry is None:
            session.add(FundRegisterEntry(id_hash=digest, kind=kind, died_on=row["died_on"]))
            result.count("created", f"第{row.line}行")
        elif entry.died_on != row["died_on"]:
            entry.died_on = row["died_on"]
            result.count("updated", f"第{row.line}行")
        else:
            result.count("unchanged")
    audit.record(session, actor=actor, action="fund.register.import", entity="fund_register",
                 entity_id="deaths", after={"rows": len(rows), "created": result.created,
                                            "updated": result.updated})
    session.flush()
    return result


# -- household links (户籍) --------------------------------------------------------------------------

HOUSEHOLD_COLUMNS = (
    Column("payee_id", "证件号", max_len=40, example="",
           help="居民 18 位身份证号；只保存其密钥散列"),
    Column("household_id", "户号", max_len=40, example="",
           help="户籍的户号（同一户的成员填写相同户号）；只保存其密钥散列"),
    Column("village", "所在村（居）", example="440823101200", help="行政村代码，或“镇名村名”"),
    Column("cadre_post", "村干部职务", required=False, max_len=32, example="",
           help="本人是本村村干部（村两委）时填写职务，如“村委会主任”；其他人留空"),
)


def _resolve_households(session: Session, rows: list[Row]) -> list[str]:
    h = ids.Hasher()
    v_code, v_name = _villages(session)
    errors: list[str] = []
    seen: dict[str, int] = {}
    for row in rows:
        if ids.kind_of(row["payee_id"]) != "person":
            errors.append(row_error(row, "证件号 payee_id 须为 18 位居民身份证号（校验位正确；"
                                         "出于保护，此处不显示该号码）"))
            continue
        digest = h.payee(row["payee_id"])
        if digest in seen:
            errors.append(row_error(row, f"证件号与第{seen[digest]}行重复"))
        seen[digest] = row.line
        vid = v_code.get(row["village"]) or v_name.get(row["village"])
        if vid is None:
            errors.append(row_error(row, f"未知或重名的村（居）“{row['village']}”（请填写行政村代码）"))
        row.refs["entry"] = (digest, h.household(row["household_id"]), vid)
    return errors


def _apply_households(session: Session, rows: list[Row], actor: str) -> ImportResult:
    result = ImportResult()
    existing = {e.id_hash: e for e in session.scalars(select(FundResident).where(
        FundResident.id_hash.in_([r.refs["entry"][0] for r in rows])))}
    for row in rows:
        digest, household, vid = row.refs["entry"]
        values = {"household": household, "village_id": vid, "cadre_post": row["cadre_post"]}
        entry = existing.get(digest)
        if entry is None:
            session.add(FundResident(id_hash=digest, **values))
            result.count("created", f"第{row.line}行")
        elif any(getattr(entry, k) != v for k, v in values.items()):
            for k, v in values.items():
                setattr(entry, k, v)
            result.count("updated", f"第{row.line}行")
        else:
            result.count("unchanged")
    audit.record(session, actor=actor, action="fund.households.import", entity="fund_residents",
                 entity_id="households", after={"rows": len(rows), "created": result.created,
                                                "updated": result.updated})
    session.flush()
    return result


register(Kind("programs", "资金项目", PROGRAM_COLUMNS, "code", _resolve_programs, _apply_programs,
              domain=DOMAIN, description="专项资金项目：资金类别、主管单位、年度、预算、单笔标准、"
                                         "每月上限、审批后发放时限", export=_export_programs))
register(Kind("payments", "资金发放", PAYMENT_COLUMNS, "external_id", _resolve_payments,
              _apply_payments, domain=DOMAIN, chunk=2000,
              description="逐笔发放到人（到户、到企业）的记录；证件号和账号只保存密钥散列和密文，"
                          "导出时不含证件号和账号、姓名脱敏", export=_export_payments))
register(Kind("deaths", "死亡及注销登记", DEATH_COLUMNS, None, _resolve_deaths, _apply_deaths,
              domain=DOMAIN, description="死亡人员和已注销企业名单，用于比对死亡或注销后仍发放的资金；"
                                         "只保存证件号的密钥散列，不可导出"))
register(Kind("households", "户籍家庭关系", HOUSEHOLD_COLUMNS, None, _resolve_households,
              _apply_households, domain=DOMAIN,
              description="居民的户号、所在村和村干部职务，用于比对收款人是否集中于村干部家庭；"
                          "证件号和户号只保存密钥散列，不可导出"))
