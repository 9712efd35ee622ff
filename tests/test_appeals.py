"""Appeals against red cards, and accountability records."""

from datetime import datetime, timedelta

import pytest
from sqlalchemy import select

from lib import appeals, db, notices, queries
from lib.access import SYSTEM, CurrentUser, PermissionDenied
from lib.config import TZ
from lib.importer import import_items
from lib.models import Item, ItemEvent, Person, Unit

HEADER = "external_id,subsystem,unit,received_at,time_limit,completed_at\n"
INSPECTOR = CurrentUser(None, "jiancha", "监察", frozenset({"inspector"}))
AFTER = datetime(2026, 11, 10, 12, 0, tzinfo=TZ)


@pytest.fixture
def engine(empty_engine):
    with db.session_scope(empty_engine) as s:
        import_items(s, HEADER + "R-1,FEES,440823.ZRZY,2026-11-02T09:00,48h,\n"
                     "R-2,FEES,440823.ZRZY,2026-11-02T09:00,48h,2026-11-05T09:00\n"
                     "G-1,FEES,440823.ZRZY,2026-11-02T09:00,48h,2026-11-03T09:00\n", actor="t")
    return empty_engine


def staff(engine, code="440823.ZRZY"):
    with db.read_scope(engine) as s:
        uid = s.scalar(select(Unit.id).where(Unit.code == code))
    return CurrentUser(None, "jingban", "经办", frozenset({"staff"}), unit_id=uid)


def item_id(engine, ext):
    with db.read_scope(engine) as s:
        return s.scalar(select(Item.id).where(Item.external_id == ext))


def lights(engine, at=AFTER):
    with db.read_scope(engine) as s:
        return {e: lt for e, _, lt in queries.item_lights(s, user=SYSTEM, as_of=at)}


def test_a_cancelled_card_leaves_the_counts_and_the_sweep(engine):
    assert lights(engine) == {"R-1": "red", "R-2": "red", "G-1": "green"}
    with db.session_scope(engine) as s:
        appeal = appeals.file(s, staff(engine), item_id(engine, "R-1"),
                              "系统停机三天，期间无法受理，附停机通知。", "停机通知.pdf", now=AFTER)
        aid = appeal.id
    with db.session_scope(engine) as s, pytest.raises(appeals.AppealError, match="待审理"):
        appeals.file(s, staff(engine), item_id(engine, "R-1"), "再次申诉，理由同上，请审理。", now=AFTER)
    with db.session_scope(engine) as s:
        appeals.decide(s, INSPECTOR, aid, True, "停机属实，撤销红牌", now=AFTER)
    assert lights(engine) == {"R-1": "green", "R-2": "red", "G-1": "green"}
    with db.session_scope(engine) as s:
        counts = queries.light_counts(s, user=SYSTEM, as_of=AFTER)
        assert counts["red"].sum() == 1 and counts["green"].sum() == 2
        assert [r.external_id for r in queries.latest_red(s, user=SYSTEM, as_of=AFTER)] == ["R-2"]
        assert notices.sweep(s, AFTER).issued == 0  # R-1 is no longer red; R-2 is done
        row = queries.list_items(s, user=SYSTEM, as_of=AFTER, external_id="R-1")[0]
        assert row.rule == "card_cancelled" and "申诉撤销" in row.reason
        kinds = [e.kind for e in s.scalars(select(ItemEvent).where(
            ItemEvent.item_id == item_id(engine, "R-1")).order_by(ItemEvent.id))]
    assert kinds[-2:] == ["appealed", "card_cancelled"]


def test_an_upheld_card_stays_red(engine):
    with db.session_scope(engine) as s:
        aid = appeals.file(s, staff(engine), item_id(engine, "R-2"), "材料齐全后当日即办结，请予撤销。",
                           now=AFTER).id
        with pytest.raises(appeals.AppealError, match="审理意见"):
            appeals.decide(s, INSPECTOR, aid, False, "", now=AFTER)
        appeals.decide(s, INSPECTOR, aid, False, "超期属实，维持", now=AFTER)
    assert lights(engine)["R-2"] == "red"


def test_appeal_refusals(engine):
    with db.session_scope(engine) as s:
        with pytest.raises(appeals.AppealError, match="不是红牌"):
            appeals.file(s, staff(engine), item_id(engine, "G-1"), "理由充分的申诉内容十个字", now=AFTER)
        with pytest.raises(appeals.AppealError, match="至少 10 个字"):
            appeals.file(s, staff(engine), item_id(engine, "R-1"), "太短", now=AFTER)
        with pytest.raises(PermissionDenied):
            appeals.file(s, staff(engine, "ZJ.CZ"), item_id(engine, "R-1"), "不是本单位的红牌申诉", now=AFTER)
        with pytest.raises(PermissionDenied):
            appeals.decide(s, staff(engine), 1, True, "自己审理自己")


def test_accountability_records(engine):
    with db.session_scope(engine) as s:
        notices.sweep(s, AFTER - timedelta(days=5))  # R-1 overdue then
        unit = s.scalar(select(Unit.id).where(Unit.code == "440823.ZRZY"))
        nid = s.scalar(select(notices.Notice.id))
        s.add(Person(name="黄伟", unit_id=unit, rank="科级"))
        s.flush()
        pid = s.scalar(select(Person.id))
        with pytest.raises(appeals.AppealError, match="干部"):
            appeals.record_accountability(s, INSPECTOR, kind="accountability", unit_id=unit,
                                          person_id=None, item_id=None, notice_id=nid,
                                          measure="诫勉谈话", reason="超时限完成工作")
        appeals.record_accountability(s, INSPECTOR, kind="criticism", unit_id=unit, person_id=None,
                                      item_id=None, notice_id=nid, measure="通报批评",
                                      reason="督办后仍未落实")
        appeals.record_accountability(s, INSPECTOR, kind="accountability", unit_id=unit,
                                      person_id=pid, item_id=None, notice_id=nid,
                                      measure="诫勉谈话", reason="超时限完成工作")
    with db.session_scope(engine) as s:
        figures = queries.source_figures(s, as_of=datetime.now(TZ))
        rows = appeals.accountability_rows(s, CurrentUser(None, "r", "r", frozenset({"reviewer"})))
    assert (figures.units_criticized, figures.officials_accountable) == (1, 1)
    assert {r["事项"] for r in rows} == {"R-1"}
    assert "黄*" in {r["干部"] for r in rows}  # no names for reviewers
