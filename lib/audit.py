"""The audit trail (审计日志): every write, who, when, what, before and after.

Rows are append-only (database triggers refuse UPDATE and DELETE) and hash-chained: each row's
hash covers its content and the previous row's hash, so altering or deleting any row breaks the
chain at that point, and `verify` names the first broken link. `prev_hash` is unique, so two
writers can never both extend the chain from the same row.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import date, datetime
from functools import lru_cache

from sqlalchemy import event, func, select, text
from sqlalchemy.orm import Session, SessionTransactionOrigin

from lib.clock import now_utc
from lib.models import AuditLog

GENESIS = "0" * 64

ACTION_LABELS = {
    "auth.login": "登录", "auth.login_failed": "登录失败", "auth.login_refused": "锁定期间登录被拒",
    "auth.locked": "账号锁定", "auth.logout": "退出登录",
    "user.create": "新建用户", "user.update": "修改用户", "user.unlock": "解除锁定",
    "user.reset_password": "重置密码", "user.change_password": "修改本人密码",
    "unit.create": "新增单位", "unit.rename": "单位更名",
    "item.create": "新增事项", "item.update": "修改事项", "item.complete": "办结登记",
    "subsystem.update": "修改灯色阈值/默认时限", "calendar.set": "调整工作日历",
    "calendar.remove": "撤销日历调整", "personal.read": "查看个人信息", "demo.load": "载入演示数据",
    "scoring.scheme": "修改考核办法", "ranking.publish": "公布效能排名",
    "evaluation.submit": "网上测评", "user.activate": "激活账号（首次设置密码）",
    "auth.activate_failed": "激活失败", "data.import": "数据导入", "sync.source": "设置前置库同步源",
    "flags.refresh": "规则复核", "flag.decide": "核查规则发现", "rule.threshold": "修改规则阈值",
    "submission.correct": "更正诉求", "project.create": "新增重点项目",
    "project.update": "修改重点项目",
    "notice.issue": "发出督办通知", "notice.escalate": "督办提级", "notice.acknowledge": "签收督办通知",
    "notice.report": "报告整改情况", "notice.verify": "核查整改", "appeal.file": "提出红牌申诉",
    "appeal.decide": "审理红牌申诉", "item.card_cancel": "撤销红牌",
    "accountability.record": "记录通报批评或问责",
    "submission.create": "群众提交诉求", "submission.dispatch": "分派诉求", "submission.acknowledge": "签收工单",
    "submission.reply": "答复诉求", "submission.review": "审核答复", "submission.hand_on": "转办",
    "submission.return": "退单", "submission.extension_request": "申请延期",
    "submission.extension_decide": "审批延期", "submission.rework": "发回重办",
    "submission.rate": "群众评价", "submission.publish": "公开答复",
}


ACTION_LABELS |= {
    "approval.correct": "告知补正", "approval.accept": "受理", "approval.pause": "暂停计时（特别程序）",
    "approval.resume": "恢复计时", "approval.extend": "审批延期", "approval.decide": "作出审批决定",
    "approval.deliver": "送达", "item.delete": "删除事项", "fee.charge": "登记收费",
    "enforcement.decide": "登记处罚决定", "market.demo": "载入要素市场演示数据",
    "content.save": "修改公开内容", "routing.add": "新增分派规则", "setting.update": "修改设置",
    "node.update": "报告节点进度",
    "disclosure.publish": "发布村务公开", "disclosure.ask": "村民提问", "disclosure.answer": "答复村民提问",
    "govinfo.request": "提出信息公开申请", "govinfo.answer": "答复信息公开申请",
    "govinfo.correction": "告知补正申请", "govinfo.corrected": "申请人补正", "govinfo.extend": "延长答复期限",
    "govinfo.pause": "征求第三方意见（中止计时）", "govinfo.resume": "恢复计时",
    "forum.post": "论坛发帖", "forum.reply": "论坛回帖", "forum.report": "举报帖子",
    "forum.reports_dismiss": "驳回帖子举报", "forum.word_add": "新增敏感词", "forum.word_remove": "删除敏感词",
    "forum.approve": "审核通过帖子", "forum.reject": "审核不通过帖子", "forum.hide": "隐藏帖子",
    "forum.restore": "恢复帖子", "poll.create": "发起投票", "poll.close": "结束投票", "poll.vote": "投票",
    "poll.demo_votes": "载入演示投票", "fund.households.import": "导入户籍关系",
    "fund.register.import": "导入死亡及注销登记", "fund.payment.update": "修改资金发放记录",
}
# What a record is, for the importer's "<entity>.create" / "<entity>.update" actions.
ENTITY_LABELS = {
    "approval_case": "审批办件", "matter": "审批事项", "enforcement": "执法案件", "discretion": "裁量基准",
    "fee_items": "收费目录", "fees": "收费记录", "plans": "规划", "permits": "规划许可",
    "tender": "采购/招标项目", "bid": "投标", "land": "土地出让", "property": "产权交易",
    "fund_program": "资金项目", "fund_payment": "资金发放记录", "fund_register": "死亡及注销登记",
    "fund_residents": "户籍关系", "disclosure": "村务公开", "disclosure_question": "村民提问",
    "info_request": "信息公开申请", "major": "重大事项", "unit": "单位",
}
VERBS = {"create": "新增", "update": "修改", "import": "导入", "delete": "删除"}
# What the log's other records are (the 对象 column), beside the importer's ENTITY_LABELS.
ENTITY_NAMES = ENTITY_LABELS | {
    "user": "用户", "submission": "群众诉求", "item": "监察事项", "notice": "督办通知",
    "forum_post": "论坛帖子", "poll": "投票", "setting": "系统设置", "sensitive_word": "敏感词",
    "project": "重点项目", "database": "数据库", "calendar": "工作日历", "sync_source": "前置库数据源",
    "subsystem": "监察子系统", "rule": "规则", "routing_rule": "派单规则", "ranking": "效能排名",
    "import": "数据导入", "flags": "规则发现", "flag": "规则发现", "fee_charge": "收费记录",
    "enforcement_case": "执法案件", "content": "热点与政策", "accountability": "通报批评与问责",
}


def entity_label(entity: str | None) -> str:
    """The kind of record in words (审计日志's 对象): 用户, 督办通知 …; an unknown one as written."""
    return ENTITY_NAMES.get(entity or "", entity or "")


def action_label(action: str) -> str:
    if action in ACTION_LABELS:
        return ACTION_LABELS[action]
    entity, _, verb = action.rpartition(".")
    if entity in ENTITY_LABELS and verb in VERBS:
        return VERBS[verb] + ENTITY_LABELS[entity]
    return action
_PG_LOCK = 727_001  # advisory lock serialising appends on PostgreSQL


def _json(value) -> str | None:
    if value is None:
        return None

    def default(o):
        if isinstance(o, datetime):
            return o.isoformat()
        if isinstance(o, date):
            return o.isoformat()
        if isinstance(o, (set, frozenset)):
            return sorted(o)
        return str(o)

    return json.dumps(value, ensure_ascii=False, sort_keys=True, default=default)


def compute_hash(*, prev_hash: str, at: int, actor: str, action: str, entity: str,
                 entity_id: str | None, before: str | None, after: str | None) -> str:
    payload = json.dumps([prev_hash, at, actor, action, entity, entity_id, before, after],
                         ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


_HEAD = "audit_chain_head"  # session.info: (transaction, hash of the row it appended last)


@event.listens_for(Session, "after_transaction_end")
def _forget_head(session: Session, transaction) -> None:
    """The cached chain head holds only within the transaction that appended it (a savepoint
    rolled back may have taken rows with it): the end of a transaction or a savepoint forgets
    it. Not a flush's: each flush runs in an inner transaction of the session's own, whose end
    changes nothing (a flush that fails leaves the whole transaction to be rolled back)."""
    if transaction.origin is not SessionTransactionOrigin.SUBTRANSACTION:
        session.info.pop(_HEAD, None)


def record(session: Session, *, actor: str, action: str, entity: str,
           entity_id: str | int | None = None, before=None, after=None) -> AuditLog:
    """Append one row in the caller's transaction.

    The first append of a transaction takes the append lock (PostgreSQL's advisory lock; on
    SQLite write transactions begin IMMEDIATE and hold the database's write lock) and reads the
    chain head; no other writer can extend the chain until this transaction ends, so its later
    appends follow on from the row it appended last without reading the head again."""
    tx = session.get_transaction()
    cached = session.info.get(_HEAD)
    if cached is not None and cached[0] is tx:
        prev = cached[1]
    else:
        if session.get_bind().dialect.name == "postgresql":
            session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PG_LOCK})
        session.flush()
        prev = session.scalar(select(AuditLog.hash).order_by(AuditLog.id.desc()).limit(1)) \
            or GENESIS
    at = now_utc()
    b, a = _json(before), _json(after)
    eid = None if entity_id is None else str(entity_id)
    row = AuditLog(at=at, actor=actor, action=action, entity=entity, entity_id=eid, before=b,
                   after=a, prev_hash=prev,
                   hash=compute_hash(prev_hash=prev, at=int(at.timestamp()), actor=actor,
                                     action=action, entity=entity, entity_id=eid, before=b,
                                     after=a))
    session.add(row)
    session.flush()
    session.info[_HEAD] = (session.get_transaction(), row.hash)
    return row


def search(session: Session, user, *, since: datetime | None = None, until: datetime | None = None,
           actor: str | None = None, action: str | None = None, entity_id: str | None = None,
           limit: int = 1000) -> list[AuditLog]:
    """Audit rows, newest first, for inspectors and administrators."""
    from lib.access import require

    require(user, "view_audit")
    stmt = _filtered(select(AuditLog).order_by(AuditLog.id.desc()).limit(limit), since=since,
                     until=until, actor=actor, action=action, entity_id=entity_id)
    return list(session.scalars(stmt))


def count(session: Session, user, *, since: datetime | None = None,
          until: datetime | None = None, actor: str | None = None, action: str | None = None,
          entity_id: str | None = None) -> int:
    """How many rows `search` finds with no limit (the page shows the newest 1,000)."""
    from lib.access import require

    require(user, "view_audit")
    return session.scalar(_filtered(select(func.count()).select_from(AuditLog), since=since,
                                    until=until, actor=actor, action=action,
                                    entity_id=entity_id)) or 0


def _filtered(stmt, *, since, until, actor, action, entity_id):
    if since is not None:
        stmt = stmt.where(AuditLog.at >= since)
    if until is not None:
        stmt = stmt.where(AuditLog.at <= until)
    if actor:
        actor = actor.strip().lower()
        stmt = stmt.where(AuditLog.actor.in_(SAME_ACTOR.get(actor, (actor,))))
    if action:
        stmt = stmt.where(AuditLog.action == action)
    if entity_id:
        stmt = stmt.where(AuditLog.entity_id == entity_id.strip())
    return stmt


def actions(session: Session) -> list[str]:
    return sorted(session.scalars(select(AuditLog.action).distinct()))


def actors(session: Session, user) -> list[str]:
    """Everyone who has written something, for the filter (reading the log needs view_audit)."""
    from lib.access import require

    require(user, "view_audit")
    found = set(session.scalars(select(AuditLog.actor).distinct()))
    for actor, same in SAME_ACTOR.items():  # one entry for the names of one actor
        if found & set(same):
            found = (found - set(same)) | {actor}
    return sorted(found)


# The system's account writes as "system"; a few of its writes name it in Chinese. One actor:
# one entry in the filter (shown as 系统), and the filter finds both.
SAME_ACTOR = {"system": ("system", "系统")}


WITHHELD = "（可能含个人信息，本角色不予显示）"


# What the fields of a record's before / after are called on the screen (the rest: as stored).
FIELD_LABELS = {
    "external_id": "事项编号", "title": "标题", "subject": "标题", "state": "状态", "status": "状态",
    "unit_id": "单位", "unit": "单位", "subsystem_id": "子系统", "received_at": "受理时间",
    "limit": "时限", "deadline": "办理期限", "completed_at": "办结时间", "rating": "评价",
    "passed": "核查通过", "late": "逾期", "kind": "类型", "type": "类型", "routing": "分派依据",
    "reason": "理由", "note": "说明", "length": "字数", "count": "条数", "source": "来源",
    "days": "天数", "rework_count": "重办次数", "appeal_id": "申诉编号", "granted": "批准",
    "card_cancelled": "亮牌已撤销", "cancelled": "撤销亮牌", "category": "类别",
    "ended_at": "结束时间", "corrected_at": "更正时间", "closes_at": "截止时间", "option": "选项",
    "options": "选项", "votes": "票数", "items": "事项数", "accounts": "账号", "word": "词语",
    "display_name": "姓名", "roles": "角色", "active": "启用", "unit_name": "单位",
    "value": "取值", "limit_value": "时限", "limit_unit": "时限单位", "name": "名称",
    "entities": "参评对象数", "ranked": "排名对象数", "hash": "校验值", "scheme": "评分方案",
    "anchor": "基准时间", "seed": "随机种子", "history": "模拟历史", "thread_id": "主题帖编号",
    "topic": "话题", "approver": "审批人", "reports_closed": "关闭的举报", "new": "新增",
    "updated": "更新", "reopened": "重新办理", "withdrawn": "撤回", "party": "当事人",
    "first_new": "新增（前 20 条）", "recovered": "追回金额", "answered_at": "答复时间",
    "published": "公开", "published_at": "公开时间", "village": "村（居）", "period": "期间",
    "disclosure": "公开事项", "item": "事项", "item_id": "事项序号", "notice_id": "督办通知序号",
    "measure": "处理措施", "keyword": "关键词", "priority": "优先级", "region_id": "地区",
    "region": "地区", "code": "编码", "level": "级别", "is_workday": "工作日",
    "deadlines_changed": "随之调整期限的事项", "closed_at": "关闭时间", "body": "正文",
    "created": "新建", "rows": "行数", "refused": "拒收", "unchanged": "未变",
    "failed_logins": "连续登录失败次数", "locked_until": "锁定至", "until": "截至",
    "tenders": "投标数", "proj_red_pp": "项目红牌阈值（百分点）",
    "proj_yellow_pp": "项目黄牌阈值（百分点）",
    "accepted_at": "正式受理时间", "correction_notice_at": "补正告知时间", "decided_at": "决定时间",
    "decision": "决定", "delivered_at": "送达时间", "extension_approved_at": "延期批准时间",
    "extension_days": "延期（工作日）", "extension_reason": "延期理由", "pause": "暂停计时",
    "activation": "待激活", "amount": "金额", "case_ref": "关联办件", "charged_at": "收费时间",
    "fee_code": "收费项目编码", "fee_name": "收费项目", "payer": "缴费人", "quantity": "数量",
    "standard": "收费标准", "filed_at": "立案时间", "told_at": "告知时间", "hearing_at": "听证时间",
    "penalty": "处罚", "light": "灯色", "percent_done": "完成进度（%）", "start_date": "开始日期",
    "viewed": "查看内容", "yellow_pct": "黄牌阈值（%）",
}
_FIELD_ORDER = {k: i for i, k in enumerate(FIELD_LABELS)}
_BOOL_WORDS = {True: "是", False: "否"}
_SHOWN_FIELDS = 4  # fields listed for a record created or deleted (the full text: 修改前/修改后)


@lru_cache(maxsize=32)
def _coded_words(entity: str | None) -> dict[str, dict]:
    """The Chinese for the codes a record of this kind keeps (field → {code: words}): an item's
    state, a submission's, a notice's, a finding's or a forum post's status, a submission's
    kind, a post's topic. (Read-only: one dict per kind of record, kept.)"""
    from lib import flags, forum, notices, submissions

    statuses = {"submission": submissions.STATUS, "notice": notices.STATUS, "flag": flags.STATUS,
                "forum_post": forum.STATUS}
    words = {"state": {"open": "在办", "completed": "已办结"},
             "status": statuses.get(entity or "", {}), "topic": forum.TOPICS}
    if entity == "submission":
        words["kind"] = {code: name for code, (name, _) in submissions.KINDS.items()}
    return words


def _word(key: str, value, names: dict | None = None, coded: dict | None = None) -> str:
    """One stored value as a person reads it: a time in Beijing time, yes/no, a unit's or
    subsystem's name for its number (`names`: field → {number: name}), a state's, status's or
    kind's words for its code (`coded`, as `_coded_words`)."""
    from lib.lights import fmt_time

    if value is None or value == "":
        return "—"
    if names and key in names and value in names[key]:
        return str(names[key][value])
    if coded and isinstance(value, str) and value in coded.get(key, {}):
        return coded[key][value]
    if isinstance(value, bool):
        return _BOOL_WORDS[value]
    if isinstance(value, str) and len(value) >= 19 and value[4] == "-" and value[10] == "T":
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            return value
        if moment.tzinfo is not None:
            return fmt_time(moment)
    if isinstance(value, (list, dict)):
        return json.dumps(value, ensure_ascii=False)
    return str(value)


def describe_change(before: str | None, after: str | None, names: dict | None = None,
                    entity: str | None = None) -> str:
    """What a write changed, in words: "状态：在办 → 已办结；办结时间：— → 2026-07-22 04:55" for
    a record changed; its first fields where only the after (a record created, an answer
    given) or only the before ("原为：…") was kept; the stored text itself where it is not a
    record; WITHHELD as it is."""
    def parsed(text_):
        if not text_ or text_ == WITHHELD:
            return None
        try:
            return json.loads(text_)
        except ValueError:
            return text_

    b, a = parsed(before), parsed(after)
    if WITHHELD in (before, after):
        return WITHHELD
    label = FIELD_LABELS.get
    coded = _coded_words(entity)

    def order(keys):
        return sorted(keys, key=lambda k: (_FIELD_ORDER.get(k, len(_FIELD_ORDER)), k))

    if isinstance(b, dict) and isinstance(a, dict):
        changed = [k for k in order(set(b) | set(a)) if b.get(k) != a.get(k)]
        if not changed:
            return "内容未变"
        return "；".join(f"{label(k, k)}：{_word(k, b.get(k), names, coded)} → "
                        f"{_word(k, a.get(k), names, coded)}" for k in changed)
    record = a if a is not None else b
    if record is None:
        return ""
    if not isinstance(record, dict):
        return _word("", record) if a is None or b is None else f"{_word('', b)} → {_word('', a)}"
    keys = order(record)
    fields = "；".join(f"{label(k, k)}：{_word(k, record[k], names, coded)}"
                      for k in keys[:_SHOWN_FIELDS])
    more = f"（等 {len(keys)} 项）" if len(keys) > _SHOWN_FIELDS else ""
    return ("" if b is None else "原为：") + fields + more


def shown(user, row: AuditLog) -> dict:
    """A row as this user may see it. Without view_staff_names (the provincial reviewer) the
    people in it are masked and what was changed (before, after: names, contacts) is withheld;
    the chain's fields are never altered, so verification is unaffected."""
    from lib.access import actor_for, can, mask_name

    names = can(user, "view_staff_names")
    entity_id = row.entity_id or ""
    if not names and row.entity == "user" and entity_id != user.username:  # one's own: as in 操作人
        entity_id = mask_name(entity_id)
    return {"id": row.id, "at": row.at, "actor": actor_for(user, row.actor),
            "action": row.action, "entity": row.entity, "entity_id": entity_id,
            "before": (row.before or "") if names else (WITHHELD if row.before else ""),
            "after": (row.after or "") if names else (WITHHELD if row.after else "")}


def record_read(session: Session, user, *, entity: str, entity_id: str | int, what: str) -> None:
    """Reading personal data (a reporter's identity) is itself an audited event."""
    record(session, actor=user.username, action="personal.read", entity=entity,
           entity_id=entity_id, after={"viewed": what})


@dataclass(frozen=True)
class VerifyResult:
    ok: bool
    rows: int
    broken_id: int | None = None
    position: int | None = None
    message: str = ""


def verify(session: Session) -> VerifyResult:
    """Walk the chain from the first row; report the first row whose hash or link is wrong."""
    prev = GENESIS
    n = 0
    stmt = select(AuditLog.id, AuditLog.at, AuditLog.actor, AuditLog.action, AuditLog.entity,
                  AuditLog.entity_id, AuditLog.before, AuditLog.after, AuditLog.prev_hash,
                  AuditLog.hash).order_by(AuditLog.id)
    for row in session.execute(stmt).yield_per(5000):
        n += 1
        (rid, at, actor, action, entity, eid, before, after, prev_hash, h) = row
        if prev_hash != prev:
            return VerifyResult(False, n, rid, n, f"第{n}条记录（id={rid}）与上一条的链接断开："
                                "上一条记录被删除、插入或篡改")
        expected = compute_hash(prev_hash=prev_hash, at=int(at.timestamp()), actor=actor,
                                action=action, entity=entity, entity_id=eid, before=before,
                                after=after)
        if expected != h:
            return VerifyResult(False, n, rid, n, f"第{n}条记录（id={rid}）的内容与其哈希不符：该记录被篡改")
        prev = h
    return VerifyResult(True, n, message=f"审计链完整：共 {n} 条记录，逐条校验通过")
