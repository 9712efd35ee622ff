"""Public submissions under forced response (网络投诉, "说了不白说").

A citizen's report (举报), complaint (投诉), consultation (咨询) or suggestion (建议) is routed to a
unit by itself; the unit must answer in time, following the work-order practice of 12345
hotlines: 派单 → 签收 (itself timed) → 办理 → 反馈 → 审核 → 回访 (the citizen's rating) → 办结,
with 退单 (return, with its reason), 延期 (asked before the deadline) and 重办 (rework after an
unsatisfied rating) as side paths.

Every answer the unit owes is a supervised item (subsystem REPORT / COMPLAIN / CONSULT / SUGGEST):
the first round's item carries the tracking code, a revision after a failed review `-V1`, a rework
`-R1`. The light engine lights them like any other item: no reply by the deadline is a red card,
and a late reply stays on the unit's record as late. Functions never commit; the caller does.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

import pandas as pd
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from lib import audit, catalog, db, privacy
from lib.access import CurrentUser, PermissionDenied, check_unit, require
from lib.clock import now_utc
from lib.config import TZ
from lib.items import snapshot
from lib.models import (
    AppSetting,
    ContentPage,
    ExtensionRequest,
    Item,
    ItemEvent,
    Region,
    RoutingRule,
    Submission,
    SubmissionEvent,
    Subsystem,
    Unit,
)
from lib.workdays import TimeLimit, load_calendar, parse_limit

KINDS = {  # kind → (Chinese name, subsystem code)
    "report": ("举报", "REPORT"),
    "complaint": ("投诉", "COMPLAIN"),
    "consult": ("咨询", "CONSULT"),
    "suggest": ("建议", "SUGGEST"),
}
STATUS = {
    "queued": "待分派",
    "dispatched": "已派单，待签收",
    "acknowledged": "办理中",
    "replied": "已反馈，待审核",
    "answered": "已答复",
    "rework": "重办中",
    "closed": "已办结",
}
ACTIONS = {
    "submitted": "群众提交", "routed": "自动派单", "queued": "转纪检监察机关分派",
    "dispatched": "人工派单", "acknowledged": "签收", "handed_on": "转办", "returned": "退单",
    "replied": "答复", "review_passed": "审核通过", "review_returned": "审核退回",
    "rated": "群众评价", "rework": "发回重办", "closed": "办结",
    "extension_requested": "申请延期", "extension_granted": "同意延期",
    "extension_refused": "不同意延期", "published": "公开答复", "corrected": "更正标题或内容",
}
MAX_SUBJECT, MAX_BODY, MAX_NAME, MAX_CONTACT, MAX_REPLY, MAX_NOTE = 100, 2000, 32, 64, 2000, 500
RATE_LIMIT = 5  # submissions per source per hour
DEFAULT_SETTINGS = {"ack_limit": "1wd", "revision_limit": "3wd", "rework_limit": "5wd",
                    "review_limit": "2wd"}
SETTING_LABELS = {"ack_limit": "签收时限", "revision_limit": "审核退回后重新答复时限",
                  "rework_limit": "重办时限", "review_limit": "答复审核时限"}
CODE_ALPHABET = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
PUBLIC = "群众"


class SubmissionError(ValueError):
    """A refused action on a submission; the message is for the user, in Chinese."""


def clean(text: str | None) -> str:
    """Trimmed, without control characters. Text is stored as typed and escaped on screen."""
    return _CONTROL.sub("", (text or "").replace("\r\n", "\n")).strip()


def get_setting(session: Session, key: str) -> str:
    row = session.get(AppSetting, key)
    return row.value if row else DEFAULT_SETTINGS[key]


def set_setting(session: Session, actor: CurrentUser, key: str, value: str) -> None:
    require(actor, "manage_settings")
    if key not in DEFAULT_SETTINGS:
        raise SubmissionError(f"未知设置项：{key}")
    try:
        value = str(parse_limit(value))
    except ValueError as exc:
        raise SubmissionError(f"{SETTING_LABELS[key]}：{exc}") from exc
    row = session.get(AppSetting, key)
    before = row.value if row else DEFAULT_SETTINGS[key]
    if row is None:
        session.add(AppSetting(key=key, value=value))
    else:
        row.value = value
    audit.record(session, actor=actor.username, action="setting.update", entity="setting",
                 entity_id=key, before={"value": before}, after={"value": value})


# -- submitting ------------------------------------------------------------------------------

@dataclass(frozen=True)
class NewSubmission:
    kind: str
    region_id: int | None
    unit_id: int | None
    subject: str
    body: str
    anonymous: bool = False
    name: str = ""
    contact: str = ""


def validate(data: NewSubmission) -> list[str]:
    errors = []
    if data.kind not in KINDS:
        errors.append("请选择类别（举报、投诉、咨询或建议）")
    subject, body = clean(data.subject), clean(data.body)
    if not subject:
        errors.append("请填写标题")
    elif len(subject) > MAX_SUBJECT:
        errors.append(f"标题不能超过 {MAX_SUBJECT} 字（现 {len(subject)} 字）")
    if len(body) < 5:
        errors.append("请填写具体内容（至少 5 个字）")
    elif len(body) > MAX_BODY:
        errors.append(f"内容不能超过 {MAX_BODY} 字（现 {len(body)} 字）")
    if data.anonymous and data.kind != "report":
        errors.append("只有举报可以匿名")
    if len(clean(data.name)) > MAX_NAME:
        errors.append(f"姓名不能超过 {MAX_NAME} 字")
    if len(clean(data.contact)) > MAX_CONTACT:
        errors.append(f"联系方式不能超过 {MAX_CONTACT} 字")
    return errors


def _new_code(session: Session, rng=None) -> str:
    """An unguessable tracking code (a seeded `rng` only for reproducible demo data)."""
    choice = rng.choice if rng is not None else secrets.choice
    while True:
        code = "QF" + "".join(choice(CODE_ALPHABET) for _ in range(10))
        if session.scalar(select(Submission.id).where(Submission.code == code)) is None:
            return code


PIN_LENGTH = 8  # the rating PIN: 8 of CODE_ALPHABET's 32 characters (about 10^12 PINs)


def new_pin() -> str:
    """A rating PIN (评价码), always from the system's secure source (the demo's too: a PIN
    is nobody's to reproduce)."""
    return "".join(secrets.choice(CODE_ALPHABET) for _ in range(PIN_LENGTH))


def pin_hash(code: str, pin: str) -> str:
    """The PIN's hash as kept, salted with its tracking code."""
    return hashlib.sha256(f"{code}:{pin.strip().upper()}".encode()).hexdigest()


def inspectors_unit(session: Session) -> Unit:
    unit = session.scalar(select(Unit).where(Unit.code == catalog.INSPECTORS_UNIT))
    if unit is None:
        raise SubmissionError("未找到纪检监察机关单位（ZJ.JW），请先执行 python -m lib init")
    return unit


def route(session: Session, kind: str, region_id: int | None, chosen_unit_id: int | None,
          text: str) -> tuple[int | None, str]:
    """(unit, why): the unit the citizen chose, else the first matching rule, else None (the
    inspectors' queue)."""
    if chosen_unit_id is not None:
        return chosen_unit_id, "群众选择的单位"
    rules = session.scalars(select(RoutingRule).where(RoutingRule.active.is_(True))
                            .order_by(RoutingRule.priority, RoutingRule.id))
    for rule in rules:
        if rule.kind and rule.kind != kind:
            continue
        if rule.region_id and rule.region_id != region_id:
            continue
        if rule.keyword and rule.keyword not in text:
            continue
        return rule.unit_id, f"派单规则 #{rule.id}" + (f"（关键词“{rule.keyword}”）" if rule.keyword else "")
    return None, "无匹配规则"


def _event(session, sub: Submission, actor: str, action: str, at: datetime, note: str | None = None,
           from_unit: int | None = None, to_unit: int | None = None) -> None:
    session.add(SubmissionEvent(submission_id=sub.id, at=at, actor=actor, action=action,
                                note=note, from_unit_id=from_unit, to_unit_id=to_unit))


def _subsystem(session: Session, kind: str) -> Subsystem:
    return session.scalar(select(Subsystem).where(Subsystem.code == KINDS[kind][1]))


def _new_round_item(session: Session, sub: Submission, *, suffix: str, unit_id: int,
                    received: datetime, limit: TimeLimit | None, actor: str) -> Item:
    """An answer the unit owes, as a supervised item with its own deadline."""
    cal = load_calendar(session)
    subsystem = _subsystem(session, sub.kind)
    effective = limit or TimeLimit(subsystem.limit_value, subsystem.limit_unit)
    item = Item(external_id=sub.code + suffix, subsystem_id=subsystem.id, unit_id=unit_id,
                region_id=sub.region_id, title=f"{KINDS[sub.kind][0]}：{sub.subject}"[:200],
                received_at=received, limit_value=limit.value if limit else None,
                limit_unit=limit.unit if limit else None,
                deadline=cal.deadline(received, effective), state="open", updated_at=received)
    session.add(item)
    session.flush()
    session.add(ItemEvent(item_id=item.id, at=received, kind="created", to_state="open",
                          actor=actor, note="群众诉求" if not suffix else "新一轮答复"))
    audit.record(session, actor=actor, action="item.create", entity="item",
                 entity_id=item.external_id, after=snapshot(item))
    return item


def submit(session: Session, data: NewSubmission, *, source: str | None = None,
           now: datetime | None = None, code_rng=None, code: str | None = None) -> Submission:
    """Accept a public submission: validate, rate-limit, route, open the first round. `code`:
    a tracking code given by the channel it came through (a hotline's work-order number; the
    channel takes the citizen's rating, so no PIN). Otherwise the submission gets a rating PIN,
    returned once as `sub.rating_pin` (kept only as its hash) for the citizen beside the code."""
    errors = validate(data)
    if errors:
        raise SubmissionError("；".join(errors))
    now = now or now_utc()
    source_hash = privacy.source_hash(source)
    if source_hash:
        recent = session.scalar(select(func.count()).select_from(Submission).where(
            Submission.source_hash == source_hash, Submission.created_at > now - timedelta(hours=1)))
        if recent >= RATE_LIMIT:
            raise SubmissionError(f"提交过于频繁：同一来源每小时最多提交 {RATE_LIMIT} 件，请稍后再试")
    if data.region_id is not None and session.get(Region, data.region_id) is None:
        raise SubmissionError("所选区县不存在")
    if data.unit_id is not None and session.get(Unit, data.unit_id) is None:
        raise SubmissionError("所选单位不存在")
    subject, body = clean(data.subject), clean(data.body)
    unit_id, why = route(session, data.kind, data.region_id, data.unit_id, subject + "\n" + body)
    queue = inspectors_unit(session)
    sub = Submission(
        code=code or _new_code(session, code_rng), kind=data.kind, region_id=data.region_id,
        unit_id=unit_id or queue.id, chosen_unit_id=data.unit_id, subject=subject, body=body,
        anonymous=bool(data.anonymous),
        name_enc=None if data.anonymous else privacy.encrypt(clean(data.name)),
        contact_enc=None if data.anonymous else privacy.encrypt(clean(data.contact)),
        status="dispatched" if unit_id else "queued", source_hash=source_hash,
        created_at=now, updated_at=now,
    )
    pin = None if code else new_pin()
    if pin is not None:
        sub.rating_pin_hash = pin_hash(sub.code, pin)
    cal = load_calendar(session)
    sub.ack_deadline = cal.deadline(now, parse_limit(get_setting(session, "ack_limit")))
    item = _new_round_item(session, sub, suffix="", unit_id=sub.unit_id, received=now, limit=None,
                           actor=PUBLIC)
    sub.item_id = item.id
    session.add(sub)
    session.flush()
    _event(session, sub, PUBLIC, "submitted", now)
    _event(session, sub, "系统", "routed" if unit_id else "queued", now, note=why, to_unit=sub.unit_id)
    audit.record(session, actor=PUBLIC, action="submission.create", entity="submission",
                 entity_id=sub.code, after={"kind": sub.kind, "unit_id": sub.unit_id,
                                            "status": sub.status, "routing": why})
    sub.rating_pin = pin  # not a column: for the one screen that shows it
    return sub


# -- staff and inspectors ----------------------------------------------------------------------

def _load(session: Session, sub_id: int, version: int | None) -> Submission:
    sub = session.get(Submission, sub_id)
    if sub is None:
        raise SubmissionError("工单不存在")
    if version is not None and sub.version != version:
        raise SubmissionError("该工单已被他人修改，请刷新页面查看最新情况后再操作")
    return sub


def _for_unit(session: Session, user: CurrentUser, sub_id: int, version: int | None,
              statuses: tuple[str, ...]) -> Submission:
    require(user, "handle_submissions")
    sub = _load(session, sub_id, version)
    check_unit(user, sub.unit_id)
    if user.unit_id != sub.unit_id:
        raise PermissionDenied("只能办理本单位的工单")
    if sub.status not in statuses:
        raise SubmissionError(f"当前状态为“{STATUS[sub.status]}”，不能进行此操作")
    return sub


def _reason(text: str, what: str) -> str:
    text = clean(text)
    if len(text) < 4:
        raise SubmissionError(f"请填写{what}（至少 4 个字）")
    if len(text) > MAX_NOTE:
        raise SubmissionError(f"{what}不能超过 {MAX_NOTE} 字")
    return text


def _move(session: Session, sub: Submission, to_unit: int, at: datetime) -> None:
    """The submission and its open round item now belong to another unit; the clock runs on."""
    item = session.get(Item, sub.item_id)
    sub.unit_id = to_unit
    if item.state == "open":
        before = snapshot(item)
        item.unit_id = to_unit
        item.updated_at = at
        audit.record(session, actor="系统", action="item.update", entity="item",
                     entity_id=item.external_id, before=before, after=snapshot(item))
    sub.ack_deadline = load_calendar(session).deadline(
        at, parse_limit(get_setting(session, "ack_limit")))
    sub.acknowledged_at = None


def acknowledge(session: Session, user: CurrentUser, sub_id: int, version: int | None = None,
                now: datetime | None = None) -> Submission:
    now = now or now_utc()
    sub = _for_unit(session, user, sub_id, version, ("dispatched",))
    sub.status, sub.acknowledged_at, sub.updated_at = "acknowledged", now, now
    late = sub.ack_deadline is not None and now > sub.ack_deadline
    _event(session, sub, user.username, "acknowledged", now, note="签收超时" if late else None)
    audit.record(session, actor=user.username, action="submission.acknowledge",
                 entity="submission", entity_id=sub.code, after={"late": late})
    return sub


def reply(session: Session, user: CurrentUser, sub_id: int, text: str,
          version: int | None = None, now: datetime | None = None) -> Submission:
    """The unit's answer (反馈); it completes the round's item, on time or late."""
    now = now or now_utc()
    sub = _for_unit(session, user, sub_id, version, ("acknowledged", "rework"))
    text = clean(text)
    if len(text) < 5:
        raise SubmissionError("答复内容至少 5 个字")
    if len(text) > MAX_REPLY:
        raise SubmissionError(f"答复内容不能超过 {MAX_REPLY} 字")
    item = session.get(Item, sub.item_id)
    before = snapshot(item)
    item.completed_at, item.state, item.updated_at = now, "completed", now
    session.add(ItemEvent(item_id=item.id, at=now, kind="completed", from_state="open",
                          to_state="completed", actor=user.username, note="答复群众诉求"))
    audit.record(session, actor=user.username, action="item.complete", entity="item",
                 entity_id=item.external_id, before=before, after=snapshot(item))
    late = now > item.deadline
    if sub.first_reply_late is None:
        sub.first_reply_late = late
    sub.reply, sub.replied_at, sub.status, sub.updated_at = text, now, "replied", now
    _event(session, sub, user.username, "replied", now, note="超期答复" if late else None)
    audit.record(session, actor=user.username, action="submission.reply", entity="submission",
                 entity_id=sub.code, after={"late": late, "length": len(text)})
    return sub


def hand_on(session: Session, user: CurrentUser, sub_id: int, to_unit_id: int, reason: str,
            version: int | None = None, now: datetime | None = None) -> Submission:
    """转办: the unit passes the submission to the unit responsible, with its reason."""
    now = now or now_utc()
    sub = _for_unit(session, user, sub_id, version, ("dispatched", "acknowledged"))
    reason = _reason(reason, "转办理由")
    if to_unit_id == sub.unit_id or session.get(Unit, to_unit_id) is None:
        raise SubmissionError("请选择另一个有效的承办单位")
    from_unit = sub.unit_id
    _move(session, sub, to_unit_id, now)
    sub.status, sub.handoff_count, sub.updated_at = "dispatched", sub.handoff_count + 1, now
    _event(session, sub, user.username, "handed_on", now, note=reason, from_unit=from_unit,
           to_unit=to_unit_id)
    audit.record(session, actor=user.username, action="submission.hand_on", entity="submission",
                 entity_id=sub.code, before={"unit_id": from_unit},
                 after={"unit_id": to_unit_id, "reason": reason})
    return sub


def return_order(session: Session, user: CurrentUser, sub_id: int, reason: str,
                 version: int | None = None, now: datetime | None = None) -> Submission:
    """退单: a misrouted order goes back to the inspectors' queue, with its legal basis."""
    now = now or now_utc()
    sub = _for_unit(session, user, sub_id, version, ("dispatched", "acknowledged"))
    reason = _reason(reason, "退单理由及依据")
    from_unit = sub.unit_id
    _move(session, sub, inspectors_unit(session).id, now)
    sub.status, sub.return_count, sub.updated_at = "queued", sub.return_count + 1, now
    _event(session, sub, user.username, "returned", now, note=reason, from_unit=from_unit)
    audit.record(session, actor=user.username, action="submission.return", entity="submission",
                 entity_id=sub.code, before={"unit_id": from_unit}, after={"reason": reason})
    return sub


def request_extension(session: Session, user: CurrentUser, sub_id: int, days: int, reason: str,
                      version: int | None = None, now: datetime | None = None) -> ExtensionRequest:
    """延期: asked before the deadline, decided by an inspector."""
    now = now or now_utc()
    sub = _for_unit(session, user, sub_id, version, ("dispatched", "acknowledged", "rework"))
    item = session.get(Item, sub.item_id)
    if now >= item.deadline:
        raise SubmissionError("已超过办理期限，不能再申请延期")
    if not isinstance(days, int) or not 1 <= days <= 20:
        raise SubmissionError("延期天数须为 1–20")
    reason = _reason(reason, "延期理由")
    if session.scalar(select(ExtensionRequest.id).where(
            ExtensionRequest.submission_id == sub.id, ExtensionRequest.status == "pending")):
        raise SubmissionError("已有一项延期申请待审批")
    req = ExtensionRequest(submission_id=sub.id, item_id=item.id, requested_by=user.username,
                           requested_at=now, days=days, reason=reason, status="pending")
    session.add(req)
    session.flush()
    sub.updated_at = now
    _event(session, sub, user.username, "extension_requested", now, note=f"{days} 天：{reason}")
    audit.record(session, actor=user.username, action="submission.extension_request",
                 entity="submission", entity_id=sub.code, after={"days": days, "reason": reason})
    return req


def _for_inspector(session: Session, user: CurrentUser, sub_id: int, version: int | None,
                   statuses: tuple[str, ...]) -> Submission:
    require(user, "dispatch_submissions")
    sub = _load(session, sub_id, version)
    if sub.status not in statuses:
        raise SubmissionError(f"当前状态为“{STATUS[sub.status]}”，不能进行此操作")
    return sub


def dispatch(session: Session, user: CurrentUser, sub_id: int, unit_id: int, note: str = "",
             version: int | None = None, now: datetime | None = None) -> Submission:
    """An inspector sends a queued submission to a unit."""
    now = now or now_utc()
    sub = _for_inspector(session, user, sub_id, version, ("queued",))
    if session.get(Unit, unit_id) is None or unit_id == inspectors_unit(session).id:
        raise SubmissionError("请选择有效的承办单位")
    _move(session, sub, unit_id, now)
    sub.status, sub.updated_at = "dispatched", now
    _event(session, sub, user.username, "dispatched", now, note=clean(note) or None, to_unit=unit_id)
    audit.record(session, actor=user.username, action="submission.dispatch", entity="submission",
                 entity_id=sub.code, after={"unit_id": unit_id})
    return sub


def review(session: Session, user: CurrentUser, sub_id: int, passed: bool, note: str = "",
           version: int | None = None, now: datetime | None = None) -> Submission:
    """审核: a passed reply is published to the citizen; a returned one opens a revision round."""
    now = now or now_utc()
    sub = _for_inspector(session, user, sub_id, version, ("replied",))
    if passed:
        sub.status, sub.answered_at, sub.updated_at = "answered", now, now
        _event(session, sub, user.username, "review_passed", now, note=clean(note) or None)
    else:
        note = _reason(note, "退回意见")
        rounds = session.scalar(select(func.count()).select_from(Item).where(
            Item.external_id.like(sub.code + "-V%")))
        item = _new_round_item(session, sub, suffix=f"-V{rounds + 1}", unit_id=sub.unit_id,
                               received=now, actor=user.username,
                               limit=parse_limit(get_setting(session, "revision_limit")))
        sub.item_id, sub.status, sub.updated_at = item.id, "acknowledged", now
        _event(session, sub, user.username, "review_returned", now, note=note)
    audit.record(session, actor=user.username, action="submission.review", entity="submission",
                 entity_id=sub.code, after={"passed": passed, "note": clean(note)})
    return sub


def decide_extension(session: Session, user: CurrentUser, request_id: int, grant: bool,
                     note: str = "", now: datetime | None = None) -> ExtensionRequest:
    require(user, "dispatch_submissions")
    now = now or now_utc()
    req = session.get(ExtensionRequest, request_id)
    if req is None or req.status != "pending":
        raise SubmissionError("该延期申请不存在或已处理")
    sub = session.get(Submission, req.submission_id)
    req.status = "granted" if grant else "refused"
    req.decided_by, req.decided_at, req.decision_note = user.username, now, clean(note) or None
    item = session.get(Item, req.item_id)
    if grant and item.state == "open":
        before = snapshot(item)
        subsystem = session.get(Subsystem, item.subsystem_id)
        current = (TimeLimit(item.limit_value, item.limit_unit) if item.limit_value
                   else TimeLimit(subsystem.limit_value, subsystem.limit_unit))
        extended = TimeLimit(current.value + req.days, current.unit)
        item.limit_value, item.limit_unit = extended.value, extended.unit
        item.deadline = load_calendar(session).deadline(item.received_at, extended)
        item.updated_at = now
        audit.record(session, actor=user.username, action="item.update", entity="item",
                     entity_id=item.external_id, before=before, after=snapshot(item))
    sub.updated_at = now
    _event(session, sub, user.username, "extension_granted" if grant else "extension_refused", now,
           note=clean(note) or None)
    audit.record(session, actor=user.username, action="submission.extension_decide",
                 entity="submission", entity_id=sub.code,
                 after={"granted": grant, "days": req.days})
    return req


def send_back_for_rework(session: Session, user: CurrentUser, sub_id: int, note: str,
                         version: int | None = None, now: datetime | None = None) -> Submission:
    """重办: after an unsatisfied rating, the unit must answer again, in a new timed round."""
    now = now or now_utc()
    sub = _for_inspector(session, user, sub_id, version, ("answered", "closed"))
    if sub.rating is None or sub.rating > 2:
        raise SubmissionError("只有群众评价为“不满意”（1–2 分）的工单可以发回重办")
    note = _reason(note, "重办要求")
    item = _new_round_item(session, sub, suffix=f"-R{sub.rework_count + 1}", unit_id=sub.unit_id,
                           received=now, actor=user.username,
                           limit=parse_limit(get_setting(session, "rework_limit")))
    sub.item_id, sub.status = item.id, "rework"
    sub.rework_count, sub.updated_at = sub.rework_count + 1, now
    _event(session, sub, user.username, "rework", now, note=note)
    audit.record(session, actor=user.username, action="submission.rework", entity="submission",
                 entity_id=sub.code, after={"rework_count": sub.rework_count, "note": note})
    return sub


def publish(session: Session, user: CurrentUser, sub_id: int, question: str, answer: str,
            version: int | None = None, now: datetime | None = None) -> Submission:
    """Put an answered consultation or suggestion on the public board, personal data removed."""
    now = now or now_utc()
    sub = _for_inspector(session, user, sub_id, version, ("answered", "closed"))
    if sub.kind not in ("consult", "suggest"):
        raise SubmissionError("只有咨询和建议的答复可以公开")
    question, answer = clean(question), clean(answer)
    if len(question) < 5 or len(answer) < 5:
        raise SubmissionError("公开的问题和答复均至少 5 个字（请删除姓名、电话等个人信息）")
    if len(question) > MAX_BODY or len(answer) > MAX_REPLY:
        raise SubmissionError(f"公开内容不能超过 {MAX_BODY} 字")
    sub.published, sub.public_question, sub.public_answer, sub.updated_at = True, question, answer, now
    _event(session, sub, user.username, "published", now)
    audit.record(session, actor=user.username, action="submission.publish", entity="submission",
                 entity_id=sub.code)
    return sub


def reveal_identity(session: Session, user: CurrentUser, sub_id: int) -> tuple[str, str]:
    """The reporter's name and contact, for inspectors only; every viewing is audited."""
    require(user, "view_reporter_identity")
    sub = _load(session, sub_id, None)
    audit.record_read(session, user, entity="submission", entity_id=sub.code,
                      what="举报人姓名及联系方式")
    if sub.anonymous:
        return "（匿名）", "（匿名）"
    return privacy.decrypt(sub.name_enc) or "（未填写）", privacy.decrypt(sub.contact_enc) or "（未填写）"


def with_identity(session: Session, user: CurrentUser) -> list[tuple[int, str, str, str, datetime]]:
    """(id, code, kind, subject, submitted) of the submissions whose sender left a name or a
    contact, newest first: what an inspector may choose to reveal."""
    require(user, "view_reporter_identity")
    return [(i, code, KINDS[kind][0], subject, at) for i, code, kind, subject, at in session.execute(
        select(Submission.id, Submission.code, Submission.kind, Submission.subject,
               Submission.created_at)
        .where(Submission.anonymous.is_(False),
               (Submission.name_enc.is_not(None)) | (Submission.contact_enc.is_not(None)))
        .order_by(Submission.created_at.desc()))]


# -- the citizen -------------------------------------------------------------------------------

def _by_code(session: Session, code: str) -> Submission:
    code = clean(code).upper()
    sub = session.scalar(select(Submission).where(Submission.code == code)) if code else None
    if sub is None:
        raise SubmissionError("查询码不存在，请核对后重新输入（网上提交的查询码以 QF 开头，共 12 位）")
    return sub


@dataclass(frozen=True)
class PublicView:
    code: str
    kind: str
    subject: str
    status: str
    created_at: datetime
    deadline: datetime | None
    unit: str
    reply: str | None
    replied_at: datetime | None
    rating: int | None
    can_rate: bool
    history: list[tuple[datetime, str, str]]
    needs_pin: bool = True  # rated with the rating PIN (False: made before PINs)


def track(session: Session, code: str) -> PublicView:
    """What the citizen sees by the tracking code: nothing internal, nobody's personal data."""
    sub = _by_code(session, code)
    item = session.get(Item, sub.item_id)
    unit = session.get(Unit, sub.unit_id)
    shown = sub.status in ("answered", "closed", "rework")
    units = dict(session.execute(select(Unit.id, Unit.name)).all())
    history = []
    for e in session.scalars(select(SubmissionEvent).where(SubmissionEvent.submission_id == sub.id)
                             .order_by(SubmissionEvent.at, SubmissionEvent.id)):
        if e.action in ("review_returned", "extension_requested", "extension_refused"):
            continue  # internal steps
        text = ACTIONS.get(e.action, e.action)
        if e.to_unit_id and e.action in ("routed", "dispatched", "handed_on"):
            text += f"：{units.get(e.to_unit_id, '')}"
        history.append((e.at, text, ""))
    return PublicView(
        code=sub.code, kind=KINDS[sub.kind][0], subject=sub.subject, status=STATUS[sub.status],
        created_at=sub.created_at, deadline=item.deadline if item else None,
        unit="纪检监察机关（分派中）" if sub.status == "queued" else unit.name,
        reply=sub.reply if shown else None, replied_at=sub.replied_at if shown else None,
        rating=sub.rating, can_rate=sub.status == "answered" and sub.rating is None,
        history=history, needs_pin=sub.rating_pin_hash is not None)


def rate(session: Session, code: str, rating: int, comment: str = "",
         now: datetime | None = None, *, pin: str | None = None) -> Submission:
    """回访: the citizen rates the reply, once, and only after it, with the rating PIN given
    with the code (a submission made before PINs: with the code alone)."""
    now = now or now_utc()
    sub = _by_code(session, code)
    if sub.rating_pin_hash is not None and not hmac.compare_digest(
            sub.rating_pin_hash, pin_hash(sub.code, pin or "")):
        raise SubmissionError("评价码不正确：评价码在提交时与查询码一同给出，共 8 位" if (pin or "").strip()
                              else "请填写评价码（提交时与查询码一同给出，共 8 位）")
    if sub.rating is not None:
        raise SubmissionError("该诉求已评价，不能重复评价")
    if sub.status not in ("answered",):
        raise SubmissionError("尚未答复，答复后才能评价")
    if not isinstance(rating, int) or not 1 <= rating <= 5:
        raise SubmissionError("请选择 1–5 分")
    comment = clean(comment)
    if len(comment) > MAX_NOTE:
        raise SubmissionError(f"评价意见不能超过 {MAX_NOTE} 字")
    sub.rating, sub.rating_comment, sub.rated_at, sub.updated_at = rating, comment or None, now, now
    # The rating of this round's answer is the unit's result satisfaction (lib.scoring).
    item = session.get(Item, sub.item_id)
    item.rating, item.rated_at = rating, now
    _event(session, sub, PUBLIC, "rated", now, note=f"{rating} 分")
    if rating >= 3:
        sub.status = "closed"
        _event(session, sub, "系统", "closed", now)
    audit.record(session, actor=PUBLIC, action="submission.rate", entity="submission",
                 entity_id=sub.code, after={"rating": rating})
    return sub


# -- reading lists and figures ------------------------------------------------------------------

OPEN_STATUSES = ("dispatched", "acknowledged", "rework", "replied")


def inbox(session: Session, user: CurrentUser, *, as_of: datetime, include_done: bool = False,
          page: int = 1, per_page: int | None = 50):
    """A unit's work orders (staff: only their own), urgent first by the light of the answer
    they owe (lib.queries.urgency_order), one page of them with the count of each light."""
    from lib import queries

    require(user, "handle_submissions")
    if user.unit_id is None:
        raise PermissionDenied("账号未绑定单位")
    stmt = (select(Submission).select_from(Submission)
            .join(Item, Item.id == Submission.item_id)
            .join(Subsystem, Subsystem.id == Item.subsystem_id)
            .where(Submission.unit_id == user.unit_id))
    if not include_done:
        stmt = stmt.where(Submission.status.in_(OPEN_STATUSES))
    counts = queries.light_tally(session, stmt, as_of)
    rows, page, per_page = queries.urgent_page(session, stmt, as_of, counts["total"], page,
                                               per_page)
    return queries.ItemPage([r[0] for r in rows], counts["total"], counts, page, per_page)


def rows_with_lights(session: Session, orders: list[Submission], as_of: datetime) -> list[dict]:
    """Orders with their current round's deadline and light (one query for all of them)."""
    from lib.lights import light_for

    ids = [o.item_id for o in orders]
    items = {i: rest for i, *rest in session.execute(
        select(Item.id, Item.received_at, Item.deadline, Item.completed_at, Subsystem.yellow_pct,
               Item.card_cancelled)
        .join(Subsystem, Subsystem.id == Item.subsystem_id).where(Item.id.in_(ids)))} if ids else {}
    out = []
    for o in orders:
        recv, due, done, pct, cancelled = items[o.item_id]
        lt = light_for(received_at=recv, deadline=due, completed_at=done, as_of=as_of,
                       yellow_pct=pct, card_cancelled=bool(cancelled))
        out.append({"id": o.id, "version": o.version, "code": o.code, "status": o.status,
                    "kind": KINDS[o.kind][0], "subject": o.subject, "body": o.body,
                    "unit_id": o.unit_id, "deadline": due, "ack_deadline": o.ack_deadline,
                    "light": lt.light if lt else "grey", "reason": lt.reason if lt else "",
                    "created": o.created_at, "reply": o.reply, "replied_at": o.replied_at,
                    "rating": o.rating, "rating_comment": o.rating_comment,
                    "rework": o.rework_count, "handoffs": o.handoff_count,
                    "returns": o.return_count, "anonymous": o.anonymous,
                    "published": o.published, "kind_code": o.kind})
    return out


def with_review_clock(session: Session, rows: list[dict], as_of: datetime) -> list[dict]:
    """The answers waiting for review, each with the review's own time limit (系统设置's
    答复审核时限, working days from the answer) and its light at the moment: the public waits
    for the inspectors' review as it waited for the unit's answer. The most urgent first
    (overdue, then the nearest limit). Rows without an answer time are left out."""
    from lib.lights import DEFAULT_YELLOW_PCT, light_for

    cal = load_calendar(session)
    limit = parse_limit(get_setting(session, "review_limit"))
    out = []
    for r in rows:
        if r.get("replied_at") is None:
            continue
        due = cal.deadline(r["replied_at"], limit)
        lt = light_for(received_at=r["replied_at"], deadline=due, completed_at=None,
                       as_of=as_of, yellow_pct=DEFAULT_YELLOW_PCT)
        out.append(r | {"review_deadline": due, "review_light": lt.light if lt else "grey",
                        "review_limit": limit.label()})
    return sorted(out, key=lambda r: (r["review_deadline"], r["replied_at"], r["id"]))


def answer_limits(session: Session) -> dict[str, str]:
    """Each kind's time limit for the unit's answer in words (举报 → 15个工作日), as set in
    系统设置 (the kind's subsystem), for the portal's form."""
    rows = {code: TimeLimit(v, u) for code, v, u in session.execute(
        select(Subsystem.code, Subsystem.limit_value, Subsystem.limit_unit)
        .where(Subsystem.code.in_([c for _, c in KINDS.values()])))}
    return {kind: rows[code].label() for kind, (_, code) in KINDS.items() if code in rows}


def queue(session: Session, user: CurrentUser, statuses: tuple[str, ...]) -> list[Submission]:
    require(user, "view_supervision")
    return list(session.scalars(select(Submission).where(Submission.status.in_(statuses))
                                .order_by(Submission.created_at).limit(500)))


def unsatisfied(session: Session, user: CurrentUser) -> list[Submission]:
    require(user, "view_supervision")
    return list(session.scalars(select(Submission).where(
        Submission.rating <= 2, Submission.status.in_(("answered", "closed")))
        .order_by(Submission.rated_at.desc()).limit(500)))


def pending_extensions(session: Session, user: CurrentUser) -> list[ExtensionRequest]:
    require(user, "view_supervision")
    return list(session.scalars(select(ExtensionRequest).where(ExtensionRequest.status == "pending")
                                .order_by(ExtensionRequest.requested_at)))


def events(session: Session, user: CurrentUser, sub_id: int) -> list[SubmissionEvent]:
    require(user, "view_items")
    sub = session.get(Submission, sub_id)
    if sub is None:
        raise SubmissionError("工单不存在")
    check_unit(user, sub.unit_id)
    return list(session.scalars(select(SubmissionEvent).where(SubmissionEvent.submission_id == sub_id)
                                .order_by(SubmissionEvent.at, SubmissionEvent.id)))


def board(session: Session) -> list[Submission]:
    """Published consultations and suggestions, newest first."""
    return list(session.scalars(select(Submission).where(Submission.published.is_(True))
                                .order_by(Submission.answered_at.desc()).limit(200)))


def content(session: Session, category: str | None = None, *, include_hidden: bool = False):
    stmt = select(ContentPage).order_by(ContentPage.updated_at.desc())
    if category:
        stmt = stmt.where(ContentPage.category == category)
    if not include_hidden:
        stmt = stmt.where(ContentPage.published.is_(True))
    return list(session.scalars(stmt))


def save_content(session: Session, user: CurrentUser, *, page_id: int | None, category: str,
                 title: str, body: str, published: bool, now: datetime | None = None) -> ContentPage:
    require(user, "manage_content")
    now = now or now_utc()
    title, body = clean(title), clean(body)
    if category not in ("hot", "policy"):
        raise SubmissionError("栏目无效")
    if not title or len(title) > 100:
        raise SubmissionError("标题不能为空，且不超过 100 字")
    if len(body) < 5 or len(body) > 5000:
        raise SubmissionError("正文须为 5–5000 字")
    page = session.get(ContentPage, page_id) if page_id else None
    before = {"title": page.title, "published": page.published} if page else None
    if page is None:
        page = ContentPage(category=category, title=title, body=body, published=published,
                           updated_at=now, updated_by=user.username)
        session.add(page)
    else:
        page.category, page.title, page.body, page.published = category, title, body, published
        page.updated_at, page.updated_by = now, user.username
    session.flush()
    audit.record(session, actor=user.username, action="content.save", entity="content",
                 entity_id=page.id, before=before, after={"title": title, "published": published})
    return page


def stats(session: Session, user: CurrentUser, *, since: datetime, until: datetime) -> pd.DataFrame:
    """Per unit: the 12345-style indicators over submissions received in [since, until]."""
    require(user, "view_complaints")
    rows = session.execute(
        select(Submission.unit_id, Submission.kind, Submission.status, Submission.ack_deadline,
               Submission.acknowledged_at, Submission.first_reply_late, Submission.replied_at,
               Submission.rating, Submission.rework_count, Submission.return_count,
               Submission.handoff_count)
        .where(Submission.created_at >= since, Submission.created_at <= until)).all()
    cols = ["unit_id", "kind", "status", "ack_deadline", "acknowledged_at", "first_reply_late",
            "replied_at", "rating", "rework_count", "return_count", "handoff_count"]
    return db.frame(rows, cols)


def received(session: Session, user: CurrentUser, *, since: datetime,
             until: datetime) -> list[tuple[str, str, str, str]]:
    """(code, kind, subject, status) of the submissions received in [since, until], newest
    first: what the dashboard lets a user pick to look at one by one."""
    require(user, "view_complaints")
    return [(code, KINDS[kind][0], subject, STATUS[status]) for code, kind, subject, status in
            session.execute(select(Submission.code, Submission.kind, Submission.subject,
                                   Submission.status)
                            .where(Submission.created_at >= since, Submission.created_at <= until)
                            .order_by(Submission.created_at.desc(), Submission.id.desc()))]


def indicators_by(df: pd.DataFrame, key: str) -> pd.DataFrame:
    """`indicators` for every value of `key` at once (one grouping, not one filtering of the
    frame per unit): a row per value, NaN where a rate has no base."""
    acked = df["acknowledged_at"].notna()
    replied = df["first_reply_late"].notna()
    rated = df["rating"].notna()
    parts = pd.DataFrame({
        key: df[key], "n": 1, "acked": acked,
        "ack_ok": acked & (df["acknowledged_at"] <= df["ack_deadline"]),
        "replied": replied,
        "reply_ok": replied & ~df["first_reply_late"].fillna(True).astype(bool),
        "answered": df["status"].isin(["answered", "closed", "rework"]),
        "rated": rated, "satisfied": rated & (df["rating"] >= 4),
        "rating_sum": df["rating"].where(rated, 0).astype(float),
        "returned": df["return_count"] > 0, "rework": df["rework_count"],
        "problem": (df["rework_count"] >= 3) | (df["handoff_count"] >= 3),
    })
    g = parts.groupby(key).sum()

    def rate(num, den):
        return (g[num] / g[den]).where(g[den] > 0)

    return pd.DataFrame({
        "total": g["n"], "timely_ack": rate("ack_ok", "acked"),
        "on_time_reply": rate("reply_ok", "replied"), "callback": rate("rated", "answered"),
        "satisfaction": rate("satisfied", "rated"), "avg_rating": rate("rating_sum", "rated"),
        "return_rate": rate("returned", "n"), "rework": g["rework"].astype(int),
        "problem_orders": g["problem"].astype(int),
    })


def indicators(df: pd.DataFrame) -> dict[str, float | None]:
    """Rates over a frame from `stats`: acknowledgement, on-time reply, callback, satisfaction,
    return and rework (None where a rate has no base)."""
    if df.empty:
        return {"total": 0, "timely_ack": None, "on_time_reply": None, "callback": None,
                "satisfaction": None, "avg_rating": None, "return_rate": None, "rework": 0,
                "problem_orders": 0}
    row = indicators_by(df.assign(_all=0), "_all").iloc[0]
    return {k: (None if pd.isna(v) else int(v) if k in ("total", "rework", "problem_orders")
                else float(v)) for k, v in row.items()}


def monthly_ratings(session: Session, user: CurrentUser) -> pd.DataFrame:
    require(user, "view_complaints")
    rows = session.execute(select(Submission.rated_at, Submission.rating)
                           .where(Submission.rating.is_not(None))).all()
    df = db.frame(rows, ["rated_at", "rating"])
    if df.empty:
        return pd.DataFrame(columns=["月份", "平均分", "满意率", "评价数"])
    df["月份"] = pd.to_datetime(df["rated_at"], utc=True).dt.tz_convert(TZ).dt.strftime("%Y-%m")
    out = df.groupby("月份").agg(平均分=("rating", "mean"),
                               满意率=("rating", lambda r: (r >= 4).mean()),
                               评价数=("rating", "size")).reset_index()
    return out


# -- Open311 GeoReport v2 ------------------------------------------------------------------------

def open311(session: Session) -> list[dict]:
    """Submissions as Open311 GeoReport v2 service requests, with no personal data: no names,
    contacts or free text; the description is the subject line."""
    units = dict(session.execute(select(Unit.id, Unit.name)).all())
    out = []
    # Each submission's work-order deadline by a join (not a map of every item's deadline: ten
    # million of them at a city's scale).
    for sub, due in session.execute(select(Submission, Item.deadline)
                                    .outerjoin(Item, Item.id == Submission.item_id)
                                    .order_by(Submission.created_at)).all():
        out.append({
            "service_request_id": sub.code,
            "status": "closed" if sub.status == "closed" else "open",
            "status_notes": STATUS[sub.status],
            "service_code": KINDS[sub.kind][1],
            "service_name": KINDS[sub.kind][0],
            "agency_responsible": units.get(sub.unit_id, ""),
            "requested_datetime": sub.created_at.astimezone(TZ).isoformat(),
            "updated_datetime": sub.updated_at.astimezone(TZ).isoformat(),
            "expected_datetime": due.astimezone(TZ).isoformat() if due else None,
            "description": sub.subject,
        })
    return out


# -- routing rules -------------------------------------------------------------------------------

@dataclass(frozen=True)
class RuleRow:
    id: int
    priority: int
    kind: str | None
    keyword: str | None
    region: str | None
    unit_id: int
    active: bool


def routing_rules(session: Session, user: CurrentUser) -> list[RuleRow]:
    require(user, "view_supervision")
    rows = session.execute(select(RoutingRule, Region.name)
                           .outerjoin(Region, Region.id == RoutingRule.region_id)
                           .order_by(RoutingRule.priority, RoutingRule.id)).all()
    return [RuleRow(r.id, r.priority, r.kind, r.keyword, region, r.unit_id, r.active)
            for r, region in rows]


def add_rule(session: Session, user: CurrentUser, *, priority: int, kind: str | None,
             keyword: str | None, region_id: int | None, unit_id: int) -> RoutingRule:
    require(user, "dispatch_submissions")
    keyword = clean(keyword) or None
    if kind is not None and kind not in KINDS:
        raise SubmissionError("类别无效")
    if keyword and len(keyword) > 40:
        raise SubmissionError("关键词不能超过 40 字")
    if kind is None and keyword is None and region_id is None:
        raise SubmissionError("规则至少要限定类别、关键词或区县之一，否则会吞掉所有诉求")
    if session.get(Unit, unit_id) is None:
        raise SubmissionError("派至单位不存在")
    rule = RoutingRule(priority=priority, kind=kind, keyword=keyword, region_id=region_id,
                       unit_id=unit_id, active=True)
    session.add(rule)
    session.flush()
    audit.record(session, actor=user.username, action="routing.add", entity="routing_rule",
                 entity_id=rule.id, after={"priority": priority, "kind": kind, "keyword": keyword,
                                           "region_id": region_id, "unit_id": unit_id})
    return rule


def find_by_code(session: Session, user: CurrentUser, code: str) -> Submission:
    require(user, "view_items")
    sub = _by_code(session, code)
    check_unit(user, sub.unit_id)
    return sub
