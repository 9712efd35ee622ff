"""Public submissions under forced response: routing, the work order, ratings, privacy, export."""

import json
import os
import subprocess
import sys
from datetime import datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest
from sqlalchemy import select
from sqlalchemy.orm.exc import StaleDataError

from lib import db, queries
from lib import submissions as subs
from lib.access import SYSTEM, CurrentUser, PermissionDenied
from lib.config import TZ
from lib.models import AuditLog, Item, Region, RoutingRule, Submission, Unit

ROOT = Path(__file__).resolve().parent.parent
T0 = datetime(2026, 11, 2, 9, 0, tzinfo=TZ)  # a Monday
INSPECTOR = CurrentUser(None, "jiancha", "监察", frozenset({"inspector"}))
LEADER = CurrentUser(None, "lingdao", "领导", frozenset({"leader"}))


def unit(engine, code):
    with db.read_scope(engine) as s:
        u = s.scalar(select(Unit).where(Unit.code == code))
        return u.id


def staff(engine, code):
    return CurrentUser(None, "jingban", "经办", frozenset({"staff"}), unit_id=unit(engine, code))


def new(kind="complaint", subject="道路积水多日无人处理", body="主干道一下雨就积水，已反映多次。",
        **kw):
    return subs.NewSubmission(kind=kind, region_id=None, unit_id=kw.pop("unit_id", None),
                              subject=subject, body=body, **kw)


PINS: dict[str, str] = {}  # each submission's rating PIN, as the citizen was given it


def submit(engine, data=None, now=T0, source=None):
    with db.session_scope(engine) as s:
        sub = subs.submit(s, data or new(), now=now, source=source)
        PINS[sub.code] = sub.rating_pin
        return sub.id, sub.code


def get(engine, sub_id):
    with db.read_scope(engine) as s:
        return s.get(Submission, sub_id)


def light_of(engine, external_id, as_of):
    with db.session_scope(engine) as s:
        return {e: lt for e, _, lt in queries.item_lights(s, user=SYSTEM, as_of=as_of)}[external_id]


@pytest.fixture
def engine(empty_engine):
    with db.session_scope(empty_engine) as s:
        s.add(RoutingRule(priority=10, keyword="积水", active=True,
                          unit_id=s.scalar(select(Unit.id).where(Unit.code == "ZJ.CGZF"))))
    return empty_engine


@pytest.mark.parametrize("data,expected", [
    (new(subject=""), "请填写标题"),
    (new(body="  "), "请填写具体内容"),
    (new(subject="长" * 101), "标题不能超过 100 字"),
    (new(body="长" * 2001), "内容不能超过 2000 字"),
    (new(kind="consult", anonymous=True), "只有举报可以匿名"),
    (new(kind="gossip"), "请选择类别"),
    (new(name="名" * 33), "姓名不能超过"),
])
def test_bad_submissions_are_refused_and_nothing_is_written(engine, data, expected):
    with db.session_scope(engine) as s, pytest.raises(subs.SubmissionError, match=expected):
        subs.submit(s, data, now=T0)
    with db.session_scope(engine) as s:
        assert s.scalar(select(Submission.id)) is None and s.scalar(select(Item.id)) is None


def test_script_tags_are_kept_as_typed(engine):
    sub_id, _ = submit(engine, new(subject="<script>alert(1)</script>", body="<b>加粗</b> ![x](http://a)"))
    assert get(engine, sub_id).subject == "<script>alert(1)</script>"


def test_routing_keyword_choice_and_queue(engine):
    by_rule, _ = submit(engine)
    assert get(engine, by_rule).unit_id == unit(engine, "ZJ.CGZF")
    assert get(engine, by_rule).status == "dispatched"
    chosen, _ = submit(engine, new(unit_id=unit(engine, "ZJ.JT")))
    assert get(engine, chosen).unit_id == unit(engine, "ZJ.JT")
    nowhere, _ = submit(engine, new(subject="其他问题", body="与任何规则都不相符的内容"))
    sub = get(engine, nowhere)
    assert sub.status == "queued" and sub.unit_id == unit(engine, "ZJ.JW")


def test_rate_limit_per_source(engine):
    for i in range(subs.RATE_LIMIT):
        submit(engine, now=T0 + timedelta(minutes=i), source="10.0.0.1")
    with db.session_scope(engine) as s, pytest.raises(subs.SubmissionError, match="过于频繁"):
        subs.submit(s, new(), now=T0 + timedelta(minutes=10), source="10.0.0.1")
    submit(engine, now=T0 + timedelta(minutes=10), source="10.0.0.2")  # another visitor
    submit(engine, now=T0 + timedelta(hours=2), source="10.0.0.1")  # an hour later


def test_identity_is_encrypted_and_every_viewing_is_audited(engine):
    sub_id, code = submit(engine, new(kind="report", name="王小明", contact="13800138000"))
    sub = get(engine, sub_id)
    assert "王小明" not in (sub.name_enc or "") and "13800138000" not in (sub.contact_enc or "")
    with db.session_scope(engine) as s, pytest.raises(PermissionDenied):
        subs.reveal_identity(s, LEADER, sub_id)
    with db.session_scope(engine) as s:
        assert subs.reveal_identity(s, INSPECTOR, sub_id) == ("王小明", "13800138000")
    with db.session_scope(engine) as s:
        reads = list(s.scalars(select(AuditLog).where(AuditLog.action == "personal.read")))
        assert [(r.actor, r.entity_id) for r in reads] == [("jiancha", code)]
        assert "王小明" not in "".join((r.after or "") + (r.before or "") for r in s.scalars(select(AuditLog)))
    anon_id, _ = submit(engine, new(kind="report", anonymous=True, name="不应保存"))
    assert get(engine, anon_id).name_enc is None


def test_the_whole_work_order_on_time(engine):
    sub_id, code = submit(engine)
    cgzf = staff(engine, "ZJ.CGZF")
    with db.session_scope(engine) as s, pytest.raises(subs.SubmissionError, match="不能进行此操作"):
        subs.reply(s, cgzf, sub_id, "已处理完毕。", now=T0 + timedelta(hours=2))  # not acknowledged
    with db.session_scope(engine) as s:
        subs.acknowledge(s, cgzf, sub_id, now=T0 + timedelta(hours=3))
    with db.session_scope(engine) as s:
        subs.reply(s, cgzf, sub_id, "已疏通排水管道，积水已消除。", now=T0 + timedelta(days=2))
    assert light_of(engine, code, T0 + timedelta(days=30)) == "green"
    with db.session_scope(engine) as s, pytest.raises(subs.SubmissionError, match="尚未答复"):
        subs.rate(s, code, 5, pin=PINS[code])
    with db.session_scope(engine) as s:
        subs.review(s, INSPECTOR, sub_id, True, now=T0 + timedelta(days=3))
    with db.session_scope(engine) as s:
        view = subs.track(s, code)
        assert view.reply == "已疏通排水管道，积水已消除。" and view.can_rate
        subs.rate(s, code, 5, "很及时", now=T0 + timedelta(days=4), pin=PINS[code])
    sub = get(engine, sub_id)
    assert (sub.status, sub.rating, sub.first_reply_late) == ("closed", 5, False)
    with db.session_scope(engine) as s, pytest.raises(subs.SubmissionError, match="不能重复评价"):
        subs.rate(s, code, 4, pin=PINS[code])


def test_no_reply_is_a_red_card_and_a_late_reply_stays_late(engine):
    sub_id, code = submit(engine)  # complaint: 10 working days → deadline 2026-11-17 00:00
    with db.session_scope(engine) as s:
        deadline = s.get(Item, get(engine, sub_id).item_id).deadline
    assert deadline == datetime(2026, 11, 17, tzinfo=TZ)
    assert light_of(engine, code, deadline - timedelta(hours=1)) == "yellow"
    assert light_of(engine, code, deadline + timedelta(seconds=1)) == "red"
    cgzf = staff(engine, "ZJ.CGZF")
    with db.session_scope(engine) as s:
        subs.acknowledge(s, cgzf, sub_id, now=T0 + timedelta(days=2))
        subs.reply(s, cgzf, sub_id, "已处理完毕，特此答复。", now=deadline + timedelta(days=1))
    assert get(engine, sub_id).first_reply_late is True
    assert light_of(engine, code, deadline + timedelta(days=300)) == "red"


def test_review_returned_opens_a_timed_revision(engine):
    sub_id, code = submit(engine)
    cgzf = staff(engine, "ZJ.CGZF")
    with db.session_scope(engine) as s:
        subs.acknowledge(s, cgzf, sub_id, now=T0)
        subs.reply(s, cgzf, sub_id, "已处理。已处理。", now=T0 + timedelta(days=1))
    with db.session_scope(engine) as s, pytest.raises(subs.SubmissionError, match="退回意见"):
        subs.review(s, INSPECTOR, sub_id, False, "", now=T0 + timedelta(days=2))
    with db.session_scope(engine) as s:
        subs.review(s, INSPECTOR, sub_id, False, "请写明处理依据", now=T0 + timedelta(days=2))
    sub = get(engine, sub_id)
    assert sub.status == "acknowledged"
    with db.session_scope(engine) as s:
        revision = s.get(Item, sub.item_id)
        assert revision.external_id == code + "-V1" and revision.state == "open"
        assert revision.deadline == datetime(2026, 11, 10, tzinfo=TZ)  # 3 working days
    assert light_of(engine, code, T0 + timedelta(days=30)) == "green"  # the first round stays done


def test_hand_on_and_return_need_reasons_and_move_the_order(engine):
    sub_id, code = submit(engine)
    cgzf, jt = staff(engine, "ZJ.CGZF"), staff(engine, "ZJ.JT")
    with db.session_scope(engine) as s, pytest.raises(PermissionDenied):
        subs.acknowledge(s, jt, sub_id, now=T0)  # not their order
    with db.session_scope(engine) as s, pytest.raises(subs.SubmissionError, match="转办理由"):
        subs.hand_on(s, cgzf, sub_id, unit(engine, "ZJ.JT"), "", now=T0)
    with db.session_scope(engine) as s:
        subs.hand_on(s, cgzf, sub_id, unit(engine, "ZJ.JT"), "属于交通部门职责", now=T0 + timedelta(hours=1))
    sub = get(engine, sub_id)
    assert sub.unit_id == unit(engine, "ZJ.JT") and sub.handoff_count == 1
    with db.session_scope(engine) as s:
        assert s.get(Item, sub.item_id).unit_id == unit(engine, "ZJ.JT")
        subs.return_order(s, jt, sub_id, "依据三定方案不属本单位职责", now=T0 + timedelta(hours=2))
    sub = get(engine, sub_id)
    assert (sub.status, sub.unit_id, sub.return_count) == ("queued", unit(engine, "ZJ.JW"), 1)
    with db.session_scope(engine) as s:
        subs.dispatch(s, INSPECTOR, sub_id, unit(engine, "ZJ.ZJ"), now=T0 + timedelta(hours=3))
        kinds = [e.action for e in subs.events(s, SYSTEM, sub_id)]
    assert kinds == ["submitted", "routed", "handed_on", "returned", "dispatched"]


def test_extension_before_the_deadline_only(engine):
    sub_id, code = submit(engine)
    cgzf = staff(engine, "ZJ.CGZF")
    with db.session_scope(engine) as s:
        req = subs.request_extension(s, cgzf, sub_id, 5, "需要现场核查", now=T0 + timedelta(days=1))
        req_id = req.id
    with db.session_scope(engine) as s, pytest.raises(subs.SubmissionError, match="待审批"):
        subs.request_extension(s, cgzf, sub_id, 3, "再次申请延期", now=T0 + timedelta(days=1))
    with db.session_scope(engine) as s:
        subs.decide_extension(s, INSPECTOR, req_id, True, "同意", now=T0 + timedelta(days=2))
    with db.session_scope(engine) as s:
        item = s.get(Item, get(engine, sub_id).item_id)
        assert item.deadline == datetime(2026, 11, 24, tzinfo=TZ)  # 15 working days
    late = T0 + timedelta(days=40)
    with db.session_scope(engine) as s, pytest.raises(subs.SubmissionError, match="已超过办理期限"):
        subs.request_extension(s, cgzf, sub_id, 3, "需要现场核查", now=late)


def answered(engine):
    """A complaint the unit answered on time and the inspectors passed: ready to be rated."""
    sub_id, code = submit(engine)
    cgzf = staff(engine, "ZJ.CGZF")
    with db.session_scope(engine) as s:
        subs.acknowledge(s, cgzf, sub_id, now=T0)
        subs.reply(s, cgzf, sub_id, "已经处理了，请知悉。", now=T0 + timedelta(days=1))
        subs.review(s, INSPECTOR, sub_id, True, now=T0 + timedelta(days=1, hours=2))
    return sub_id, code, cgzf


def test_rework_after_an_unsatisfied_rating(engine):
    sub_id, code, cgzf = answered(engine)
    with db.session_scope(engine) as s:
        for bad in (0, 6):
            with pytest.raises(subs.SubmissionError, match="1–5"):
                subs.rate(s, code, bad, pin=PINS[code])
        subs.rate(s, code, 1, "根本没解决", now=T0 + timedelta(days=2), pin=PINS[code])
    assert get(engine, sub_id).status == "answered"
    with db.session_scope(engine) as s:
        subs.send_back_for_rework(s, INSPECTOR, sub_id, "请重新核查处理", now=T0 + timedelta(days=3))
    sub = get(engine, sub_id)
    assert (sub.status, sub.rework_count) == ("rework", 1)
    with db.session_scope(engine) as s:
        assert s.get(Item, sub.item_id).external_id == code + "-R1"
        subs.reply(s, cgzf, sub_id, "重新处理后已彻底解决。", now=T0 + timedelta(days=4))
    with db.session_scope(engine) as s:
        df = subs.stats(s, INSPECTOR, since=T0 - timedelta(days=1), until=T0 + timedelta(days=10))
    k = subs.indicators(df)
    assert (k["total"], k["rework"], k["satisfaction"], k["on_time_reply"]) == (1, 1, 0.0, 1.0)


def test_a_satisfied_rating_cannot_be_sent_back(engine):
    sub_id, code, _ = answered(engine)
    with db.session_scope(engine) as s:
        subs.rate(s, code, 4, now=T0 + timedelta(days=2), pin=PINS[code])
    with db.session_scope(engine) as s, pytest.raises(subs.SubmissionError, match="不满意"):
        subs.send_back_for_rework(s, INSPECTOR, sub_id, "请重新核查处理")


def test_unknown_tracking_code(engine):
    with db.session_scope(engine) as s:
        for code in ("", "QFNOTEXISTING", "<script>"):
            with pytest.raises(subs.SubmissionError, match="查询码"):
                subs.track(s, code)


def test_stale_edits_are_refused(engine):
    sub_id, _ = submit(engine)
    cgzf = staff(engine, "ZJ.CGZF")
    seen = get(engine, sub_id).version
    with db.session_scope(engine) as s:
        subs.acknowledge(s, cgzf, sub_id, version=seen, now=T0)
    with db.session_scope(engine) as s, pytest.raises(subs.SubmissionError, match="已被他人修改"):
        subs.reply(s, cgzf, sub_id, "基于旧页面的答复内容", version=seen, now=T0 + timedelta(hours=1))


def test_two_sessions_cannot_overwrite_each_other(engine):
    """Optimistic locking in the database (version column), not only in the form."""
    sub_id, _ = submit(engine)
    factory = db.sessionmaker(bind=engine, expire_on_commit=False)
    a, b = factory(), factory()
    try:
        # Both open the form; each look is its own short transaction (writers never overlap).
        sb_ = b.get(Submission, sub_id)
        b.commit()
        sa_ = a.get(Submission, sub_id)
        sa_.subject = "甲的修改"
        a.commit()
        sb_.subject = "乙的修改"  # submitted later, over the version seen before 甲's save
        with pytest.raises(StaleDataError):
            b.commit()
    finally:
        a.close()
        b.close()
    assert get(engine, sub_id).subject == "甲的修改"


def test_publish_and_board(engine):
    sub_id, _ = submit(engine, new(kind="consult", subject="公积金提取要什么材料",
                                  body="租房提取公积金需要准备哪些材料？"))
    assert get(engine, sub_id).status == "queued"  # no rule for 公积金 in this fixture
    with db.session_scope(engine) as s:
        subs.dispatch(s, INSPECTOR, sub_id, unit(engine, "ZJ.GJJ"), now=T0)
    gjj = staff(engine, "ZJ.GJJ")
    with db.session_scope(engine) as s:
        subs.acknowledge(s, gjj, sub_id, now=T0)
        subs.reply(s, gjj, sub_id, "请携带身份证和租房合同办理。", now=T0 + timedelta(days=1))
        subs.review(s, INSPECTOR, sub_id, True, now=T0 + timedelta(days=1, hours=1))
    with db.session_scope(engine) as s, pytest.raises(subs.SubmissionError, match="至少 5 个字"):
        subs.publish(s, INSPECTOR, sub_id, "问", "答")
    with db.session_scope(engine) as s:
        subs.publish(s, INSPECTOR, sub_id, "租房提取公积金需要哪些材料？", "身份证和租房合同。")
    with db.session_scope(engine) as s:
        assert [b.public_answer for b in subs.board(s)] == ["身份证和租房合同。"]


def test_open311_export_has_no_personal_data(engine):
    submit(engine, new(kind="report", subject="举报工程转包", body="张三把工程转包给李四",
                       name="王小明", contact="13800138000"))
    with db.session_scope(engine) as s:
        requests = subs.open311(s)
    assert set(requests[0]) == {"service_request_id", "status", "status_notes", "service_code",
                                "service_name", "agency_responsible", "requested_datetime",
                                "updated_datetime", "expected_datetime", "description"}
    assert requests[0]["status"] == "open" and requests[0]["service_code"] == "REPORT"
    text = json.dumps(requests, ensure_ascii=False)
    for private in ("王小明", "13800138000", "张三把工程转包给李四"):
        assert private not in text
    env = dict(os.environ, DATABASE_URL=engine.url.render_as_string(hide_password=False))
    out = subprocess.run([sys.executable, "-m", "lib", "export", "open311"], cwd=ROOT, env=env,
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and json.loads(out.stdout)[0]["service_name"] == "举报"


def test_demo_submissions_have_a_realistic_mix(demo_engine):
    with db.session_scope(demo_engine) as s:
        rows = s.scalars(select(Submission)).all()
        assert len(rows) == 500
        assert {r.kind for r in rows} == set(subs.KINDS)
        assert any(r.first_reply_late for r in rows) and any(r.first_reply_late is False for r in rows)
        assert {r.rating for r in rows if r.rating} == {1, 2, 3, 4, 5}
        assert any(r.rework_count for r in rows) and any(r.published for r in rows)
        open_red = [e for e, _, lt in queries.item_lights(s, user=SYSTEM, as_of=datetime.now(TZ))
                    if e.startswith("QF") and lt == "red"]
        assert open_red  # some never answered
        # Each is answered by a unit of its county (its own, a town's in it) or of the city.
        regions = {r.id: r for r in s.scalars(select(Region))}
        units = {u.id: u for u in s.scalars(select(Unit))}

        def county_of(region_id):
            r = regions[region_id]
            while r.level not in ("county", "city"):
                r = regions[r.parent_id]
            return r

        wrong = [(r.code, units[r.unit_id].name, regions[r.region_id].name) for r in rows
                 if r.unit_id and county_of(units[r.unit_id].region_id).level == "county"
                 and county_of(units[r.unit_id].region_id).id != r.region_id]
        assert not wrong, wrong[:5]


def test_privacy_key_sources(tmp_path, monkeypatch):
    import stat

    from lib import privacy

    monkeypatch.setattr(privacy, "KEY_FILE", tmp_path / "privacy_key")
    monkeypatch.delenv("PRIVACY_KEY", raising=False)
    monkeypatch.delenv("APP_ENV", raising=False)
    privacy.configure(None)
    token = privacy.encrypt("王小明")
    assert token != "王小明" and privacy.decrypt(token) == "王小明"
    assert stat.S_IMODE(os.stat(tmp_path / "privacy_key").st_mode) == 0o600
    monkeypatch.setenv("APP_ENV", "production")
    (tmp_path / "privacy_key").unlink()
    with pytest.raises(privacy.PrivacyConfigError, match="加密密钥"):
        privacy.check()
    from cryptography.fernet import Fernet

    other = Fernet.generate_key().decode()
    monkeypatch.setenv("PRIVACY_KEY", other)
    assert "无法解密" in privacy.decrypt(token)  # a changed key never shows garbage as a name


def test_the_inbox_lists_the_overdue_first_and_pages_through_all(engine):
    """Four complaints to one unit, received 20, 15, 2 and 9 days before T: the two overdue
    (most overdue first), then the one with the least time left, then the fresh one."""
    cg = unit(engine, "ZJ.CGZF")
    ids = {}
    for days in (20, 15, 2, 9):
        ids[days], _ = submit(engine, new(unit_id=cg), now=T0 + timedelta(days=-days))
    worker = CurrentUser(None, "jingban", "经办", frozenset({"staff"}), unit_id=cg)
    with db.read_scope(engine) as s:
        whole = subs.inbox(s, worker, as_of=T0, per_page=None)
        assert [o.id for o in whole.rows] == [ids[20], ids[15], ids[9], ids[2]]
        assert whole.total == 4 and whole.counts["open_red"] == 2
        first, second = (subs.inbox(s, worker, as_of=T0, page=p, per_page=3) for p in (1, 2))
        assert [o.id for o in first.rows + second.rows] == [ids[20], ids[15], ids[9], ids[2]]
        assert (first.pages, second.page) == (2, 2)
        with pytest.raises(PermissionDenied):
            subs.inbox(s, INSPECTOR, as_of=T0)


@pytest.mark.parametrize("peer,real,expected", [
    ("203.0.113.7", None, "203.0.113.7"),  # a visitor straight to the app
    ("203.0.113.7", "10.0.0.9", "203.0.113.7"),  # a remote peer cannot forge the header
    ("127.0.0.1", "198.51.100.4", "198.51.100.4"),  # behind the local nginx
    ("::ffff:127.0.0.1", "198.51.100.4", "198.51.100.4"),  # the same on a dual-stack socket
    ("::1", "2001:db8::5", "2001:db8::5"),
    ("::ffff:127.0.0.1", None, None),  # local use, no proxy: no address, no rate limit
    (None, None, None),
])
def test_the_visitors_address_behind_the_proxy(peer, real, expected):
    from lib import privacy

    assert privacy.visitor_address(peer, real) == expected


def _indicators_by_filtering(df):
    """The per-unit figures computed the plain way: the unit's rows filtered out, then counted."""
    def rate(num, den):
        return float(num) / float(den) if den else None

    acked = df[df["acknowledged_at"].notna()]
    replied = df[df["first_reply_late"].notna()]
    answered = df[df["status"].isin(["answered", "closed", "rework"])]
    rated = df[df["rating"].notna()]
    return {
        "total": len(df),
        "timely_ack": rate((acked["acknowledged_at"] <= acked["ack_deadline"]).sum(), len(acked)),
        "on_time_reply": rate((~replied["first_reply_late"].astype(bool)).sum(), len(replied)),
        "callback": rate(len(rated), len(answered)),
        "satisfaction": rate((rated["rating"] >= 4).sum(), len(rated)),
        "avg_rating": float(rated["rating"].mean()) if len(rated) else None,
        "return_rate": rate((df["return_count"] > 0).sum(), len(df)),
        "rework": int(df["rework_count"].sum()),
        "problem_orders": int(((df["rework_count"] >= 3) | (df["handoff_count"] >= 3)).sum()),
    }


def test_indicators_of_every_unit_at_once_equal_each_units_own(demo_engine):
    with db.session_scope(demo_engine, write=False) as s:
        df = subs.stats(s, INSPECTOR, since=T0 - timedelta(days=400), until=T0 + timedelta(days=10))
    assert len(df) > 50 and df["unit_id"].nunique() > 5
    by_unit = subs.indicators_by(df, "unit_id")
    for unit_id, g in df.groupby("unit_id"):
        want = _indicators_by_filtering(g)
        got = by_unit.loc[unit_id]
        for k, v in want.items():
            assert (pd.isna(got[k]) if v is None else got[k] == pytest.approx(v)), (unit_id, k)
    whole, want = subs.indicators(df), _indicators_by_filtering(df)
    assert set(whole) == set(want)
    for k, v in want.items():
        assert (whole[k] is None) if v is None else whole[k] == pytest.approx(v), k


def test_an_answer_waiting_for_review_has_its_own_time_limit_and_light(engine):
    """The inspectors' review of an answer has a limit of its own (答复审核时限, two working
    days by default, from the answer): green, then yellow near it, red past it, weekends not
    counted; the nearest limit first; the setting changes it (a bad value is refused)."""
    cgzf = staff(engine, "ZJ.CGZF")
    thursday = T0 + timedelta(days=3)  # 2026-11-05, a Thursday
    ids = []
    for answered in (thursday, T0 + timedelta(days=1)):  # the second answered earlier
        sub_id, _ = submit(engine, now=T0)
        with db.session_scope(engine) as s:
            subs.acknowledge(s, cgzf, sub_id, now=T0 + timedelta(hours=1))
        with db.session_scope(engine) as s:
            subs.reply(s, cgzf, sub_id, "已疏通排水管道，积水已消除。", now=answered)
        ids.append(sub_id)
    with db.read_scope(engine) as s:
        rows = subs.rows_with_lights(s, subs.queue(s, INSPECTOR, ("replied",)), thursday)
        clocked = subs.with_review_clock(s, rows, thursday + timedelta(hours=1))
    assert [r["id"] for r in clocked] == [ids[1], ids[0]]  # the nearest limit first
    earlier, fresh = clocked
    assert fresh["review_limit"] == "2个工作日"
    # Two working days from a Thursday answer: past the weekend, not before Monday.
    assert fresh["review_deadline"] >= datetime(2026, 11, 9, 0, 0, tzinfo=TZ)
    assert fresh["review_light"] == "green"
    assert earlier["review_light"] == "green"  # answered Tuesday, due by Thursday: not yet past
    with db.read_scope(engine) as s:
        due = fresh["review_deadline"]
        at = {w: subs.with_review_clock(s, rows, w)[1]["review_light"]
              for w in (due - timedelta(minutes=5), due + timedelta(minutes=1))}
    assert list(at.values()) == ["yellow", "red"]
    with db.session_scope(engine) as s, pytest.raises(subs.SubmissionError, match="答复审核时限"):
        subs.set_setting(s, CurrentUser(None, "admin", "管理", frozenset({"admin"})),
                         "review_limit", "两天")
    with db.session_scope(engine) as s:
        subs.set_setting(s, CurrentUser(None, "admin", "管理", frozenset({"admin"})),
                         "review_limit", "1wd")
    with db.read_scope(engine) as s:
        shorter = subs.with_review_clock(s, rows, thursday + timedelta(hours=1))
    assert shorter[1]["review_deadline"] < fresh["review_deadline"]
    assert shorter[1]["review_limit"] == "1个工作日"


def _answered(engine, sub_id):
    """Acknowledged, answered and passed review by T0 + 2 days: the citizen may rate."""
    cgzf = staff(engine, "ZJ.CGZF")
    with db.session_scope(engine) as s:
        subs.acknowledge(s, cgzf, sub_id, now=T0 + timedelta(hours=1))
    with db.session_scope(engine) as s:
        subs.reply(s, cgzf, sub_id, "已疏通排水管道，积水已消除。", now=T0 + timedelta(days=1))
    with db.session_scope(engine) as s:
        subs.review(s, INSPECTOR, sub_id, True, now=T0 + timedelta(days=2))


def test_only_the_citizen_with_the_rating_pin_can_rate(engine):
    """The tracking code is seen by the unit that answers and the inspectors; the rating (the
    unit's satisfaction score) needs the PIN given to the citizen with it: without it, or with
    a wrong one, nothing is written. The PIN is kept only as a salted hash. A submission made
    before PINs (none kept) is rated with its code, as before; one that came through a channel
    (a hotline's own number) gets no PIN."""
    sub_id, code = submit(engine)
    pin = PINS[code]
    assert len(pin) == subs.PIN_LENGTH and set(pin) <= set(subs.CODE_ALPHABET)
    _answered(engine, sub_id)
    with db.read_scope(engine) as s:
        stored = s.get(Submission, sub_id).rating_pin_hash
        assert stored == subs.pin_hash(code, pin) and pin not in stored
        assert subs.track(s, code).needs_pin
    for wrong, says in ((None, "请填写评价码"), ("", "请填写评价码"), ("AAAAAAAA", "评价码不正确")):
        with db.session_scope(engine) as s, pytest.raises(subs.SubmissionError, match=says):
            subs.rate(s, code, 5, pin=wrong)
    assert get(engine, sub_id).rating is None
    with db.session_scope(engine) as s:
        subs.rate(s, code, 4, pin=f" {pin.lower()} ")  # as typed: spaces and case forgiven
    assert get(engine, sub_id).rating == 4
    # Made before PINs: rated with the code alone.
    old_id, old_code = submit(engine)
    with db.session_scope(engine) as s:
        s.get(Submission, old_id).rating_pin_hash = None
    _answered(engine, old_id)
    with db.session_scope(engine) as s:
        assert not subs.track(s, old_code).needs_pin
        subs.rate(s, old_code, 5)
    # Through a channel with its own number: no PIN.
    with db.session_scope(engine) as s:
        hotline = subs.submit(s, new(), now=T0, code="12345-260001")
        assert hotline.rating_pin is None and hotline.rating_pin_hash is None
