"""The audit trail: every write recorded, append-only, hash-chained, tampering found."""

import subprocess
import sys
from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import event, func, select, text
from sqlalchemy.exc import DBAPIError

from lib import audit, db, settings
from lib.access import CurrentUser
from lib.importer import import_items
from lib.models import AppSetting, AuditLog, Subsystem

ROOT = Path(__file__).resolve().parent.parent
ADMIN = CurrentUser(id=None, username="admin", display_name="管理员", roles=frozenset({"admin"}))
HEADER = "external_id,subsystem,unit,received_at,time_limit,completed_at\n"


def write_some(engine):
    with db.session_scope(engine) as s:
        import_items(s, HEADER + "A-1,APPROVAL,ZJ.FG,2026-09-30T10:00,5wd,\n"
                     "A-2,FEES,ZJ.CZ,2026-09-30T10:00,,\n", actor="importer")
    with db.session_scope(engine) as s:
        import_items(s, HEADER + "A-1,APPROVAL,ZJ.FG,2026-09-30T10:00,5wd,2026-10-09T10:00\n",
                     actor="importer")
    with db.session_scope(engine) as s:
        sub = s.scalar(select(Subsystem.id).where(Subsystem.code == "FEES"))
        settings.update_subsystem(s, ADMIN, sub, yellow_pct=30, limit="5wd")
        settings.set_override(s, ADMIN, date(2026, 10, 9), False, "台风停工")


def rows(engine):
    with db.session_scope(engine) as s:
        return list(s.scalars(select(AuditLog).order_by(AuditLog.id)))


def test_every_write_is_recorded_with_before_and_after(empty_engine):
    write_some(empty_engine)
    log = rows(empty_engine)
    # A bulk import is one audit row (who, when, the file's hash, the counts); a change to an
    # existing item is its own row with before and after.
    assert [r.action for r in log] == ["data.import", "item.update", "data.import",
                                       "subsystem.update", "calendar.set"]
    assert '"created": 2' in log[0].after and '"sha256": "' in log[0].after
    update = log[1]
    assert update.actor == "importer" and update.entity_id == "A-1"
    assert '"state": "open"' in update.before and '"state": "completed"' in update.after
    assert '"updated": 1' in log[2].after
    assert '"yellow_pct": 20' in log[3].before and '"yellow_pct": 30' in log[3].after
    assert log[0].prev_hash == audit.GENESIS
    assert all(b.prev_hash == a.hash for a, b in zip(log, log[1:], strict=False))
    with db.session_scope(empty_engine) as s:
        assert audit.verify(s).ok


def test_the_database_refuses_updates_and_deletes(empty_engine):
    write_some(empty_engine)
    for sql in ("UPDATE audit_log SET actor = 'x'", "DELETE FROM audit_log"):
        with pytest.raises(DBAPIError, match="append-only"), empty_engine.begin() as c:
            c.execute(text(sql))
    with db.session_scope(empty_engine) as s:
        assert s.scalar(select(func.count()).select_from(AuditLog)) == 5


def _drop_guards(engine):
    """What an intruder with database access would do first."""
    with engine.begin() as c:
        if engine.dialect.name == "postgresql":
            c.execute(text("DROP TRIGGER audit_log_no_change ON audit_log"))
        else:
            c.execute(text("DROP TRIGGER audit_log_no_update"))
            c.execute(text("DROP TRIGGER audit_log_no_delete"))


def test_an_altered_row_is_found(empty_engine):
    write_some(empty_engine)
    third = rows(empty_engine)[2]
    _drop_guards(empty_engine)
    with empty_engine.begin() as c:
        c.execute(text("UPDATE audit_log SET after = :a WHERE id = :i"),
                  {"a": '{"state": "open"}', "i": third.id})
    with db.session_scope(empty_engine) as s:
        result = audit.verify(s)
    assert not result.ok and result.broken_id == third.id and result.position == 3
    assert "篡改" in result.message


def test_a_deleted_row_is_found(empty_engine):
    write_some(empty_engine)
    log = rows(empty_engine)
    _drop_guards(empty_engine)
    with empty_engine.begin() as c:
        c.execute(text("DELETE FROM audit_log WHERE id = :i"), {"i": log[1].id})
    with db.session_scope(empty_engine) as s:
        result = audit.verify(s)
    assert not result.ok and result.broken_id == log[2].id
    assert "链接断开" in result.message


def test_the_chain_cannot_fork(empty_engine):
    """Two rows claiming the same predecessor are refused by the database."""
    write_some(empty_engine)
    last = rows(empty_engine)[-1]
    with pytest.raises(DBAPIError), empty_engine.begin() as c:
        c.execute(text("INSERT INTO audit_log (at, actor, action, entity, prev_hash, hash) "
                       "VALUES (1, 'x', 'x', 'x', :p, :h)"), {"p": last.prev_hash, "h": "f" * 64})


def test_cli_audit_verify(empty_engine, monkeypatch):
    import os

    write_some(empty_engine)
    env = dict(os.environ, DATABASE_URL=empty_engine.url.render_as_string(hide_password=False))
    ok = subprocess.run([sys.executable, "-m", "lib", "audit", "verify"], cwd=ROOT, env=env,
                        capture_output=True, text=True, timeout=120)
    assert ok.returncode == 0 and "审计链完整：共 5 条记录" in ok.stdout
    _drop_guards(empty_engine)
    with empty_engine.begin() as c:
        c.execute(text("UPDATE audit_log SET actor = 'someone' WHERE id = (SELECT MIN(id) FROM audit_log)"))
    bad = subprocess.run([sys.executable, "-m", "lib", "audit", "verify"], cwd=ROOT, env=env,
                         capture_output=True, text=True, timeout=120)
    assert bad.returncode == 1 and "第1条记录" in bad.stderr


def test_reading_personal_data_is_audited(empty_engine):
    inspector = CurrentUser(id=None, username="jiancha", display_name="监察",
                            roles=frozenset({"inspector"}))
    with db.session_scope(empty_engine) as s:
        audit.record_read(s, inspector, entity="submission", entity_id="TS-1", what="举报人身份")
    with db.session_scope(empty_engine) as s:
        found = audit.search(s, inspector, action="personal.read")
    assert [(r.actor, r.entity_id) for r in found] == [("jiancha", "TS-1")]


def test_appends_in_one_transaction_chain_on_through_savepoints_and_commits(empty_engine):
    """A transaction reads the chain head once and follows on from its own last row; a
    savepoint rolled back (its rows gone) or a commit makes the next append read the head."""
    reads = []

    def count(conn, cursor, statement, *args):
        if statement.startswith("SELECT audit_log.hash"):
            reads.append(statement)

    heads = []
    event.listen(empty_engine, "before_cursor_execute", count)
    with db.session_scope(empty_engine) as s:
        for n in range(3):
            audit.record(s, actor="t", action="test.a", entity="x", entity_id=n)
            s.add(AppSetting(key=f"test.{n}", value="x"))
            s.flush()  # a flush between two appends (most writes flush before they audit)
        heads.append(len(reads))
        sp = s.begin_nested()
        audit.record(s, actor="t", action="test.gone", entity="x", entity_id="sp")
        sp.rollback()
        audit.record(s, actor="t", action="test.b", entity="x", entity_id=4)
        heads.append(len(reads))
        s.commit()
        audit.record(s, actor="t", action="test.c", entity="x", entity_id=5)
        heads.append(len(reads))
    event.remove(empty_engine, "before_cursor_execute", count)
    chain = rows(empty_engine)
    assert [r.action for r in chain][-5:] == ["test.a"] * 3 + ["test.b", "test.c"]
    assert heads == [1, 2, 3]  # read once, again after the savepoint's rollback, after the commit
    assert all(b.prev_hash == a.hash for a, b in zip(chain, chain[1:], strict=False))
    with db.session_scope(empty_engine) as s:
        assert audit.verify(s).ok


def test_a_change_is_described_in_words():
    before = ('{"completed_at": null, "deadline": "2026-08-14T16:00:00+00:00", "state": "open", '
              '"unit_id": 62}')
    after = ('{"completed_at": "2026-07-21T20:55:56+00:00", "deadline": "2026-08-14T16:00:00+00:00", '
             '"state": "completed", "unit_id": 63}')
    names = {"unit_id": {62: "遂溪县自然资源局", 63: "雷州市农业农村局"}}
    # Only what changed, in the fields' order of importance, times in Beijing time, names for numbers.
    assert audit.describe_change(before, after, names) == (
        "状态：在办 → 已办结；单位：遂溪县自然资源局 → 雷州市农业农村局；"
        "办结时间：— → 2026-07-22 04:55")
    assert audit.describe_change(before, before) == "内容未变"
    # Only one side kept: its first fields, with how many there are.
    assert audit.describe_change(None, '{"rating": 2}') == "评价：2"
    assert audit.describe_change(None, after, names) == (
        "状态：已办结；单位：雷州市农业农村局；办理期限：2026-08-15 00:00；办结时间：2026-07-22 04:55")
    assert audit.describe_change(before, None).startswith("原为：状态：在办")
    five = '{"a": 1, "b": 2, "external_id": "X-1", "state": "open", "unit_id": 5}'
    assert audit.describe_change(None, five) == "事项编号：X-1；状态：在办；单位：5；a：1（等 5 项）"
    # What a role may not read stays withheld; text that is not a record is shown as it is.
    assert audit.describe_change(audit.WITHHELD, audit.WITHHELD) == audit.WITHHELD
    assert audit.describe_change(None, "not json") == "not json"
    assert audit.describe_change(None, None) == ""
    # A record's codes in words, by what the record is.
    assert audit.describe_change('{"status": "pending"}', '{"status": "approved"}',
                                 entity="forum_post") == "状态：待审核 → 已公开"
    assert audit.describe_change(None, '{"kind": "complaint", "status": "queued", "unit": 7}',
                                 {"unit": {7: "湛江市民政局"}}, entity="submission") == \
        "状态：待分派；单位：湛江市民政局；类型：投诉"

    assert audit.describe_change('{"status": "open"}',
                                 '{"note": "属实", "recovered": "230.00", "status": "confirmed"}',
                                 entity="flag") == "状态：待核查 → 核查属实；说明：— → 属实；追回金额：— → 230.00"


def recorded_fields() -> set[tuple[str, str]]:
    """(key, file) of the fields the library writes into an audit row's before / after, read
    from its source: dicts written in `audit.record(...)` calls or assigned to `before` /
    `after`, keys set as `after["x"]`, the fields a `*_snapshot` function copies, and the
    approval case's fields (`approvals.CASE_FIELDS`, copied by name)."""
    import re

    from lib.domains.power import approvals

    found = {(k, "approvals.py") for k in approvals.CASE_FIELDS}
    for path in (ROOT / "lib").rglob("*.py"):
        src = path.read_text(encoding="utf-8")
        dicts = re.findall(r"\b(?:before|after)\s*=\s*\{([^{}]*)\}", src)
        for m in re.finditer(r"audit\.record\(", src):
            depth, i = 1, m.end()
            while depth:
                depth += {"(": 1, ")": -1}.get(src[i], 0)
                i += 1
            dicts += re.findall(r"\{([^{}]*)\}", src[m.end():i])
        keys = [k for d in dicts for k in re.findall(r'"([a-z_]+)":', d)]
        keys += re.findall(r'\b(?:before|after)\["([a-z_]+)"\]', src)
        for body in re.findall(r"def [a-z]\w*_snapshot\(.*?\n((?:    .*\n|\n)+)", src):
            keys += re.findall(r'"([a-z_]+)"', body)
        found |= {(k, path.name) for k in keys}
    return found


def test_every_field_the_library_records_has_its_words():
    """Each field of a before/after written by the library has a label for 变更内容 (an
    unlabelled key showed as itself: "recovered：— → 99.00")."""
    fields = recorded_fields()
    assert ("recovered", "flags.py") in fields and ("standard", "forms.py") in fields
    missing = sorted((k, f) for k, f in fields if k not in audit.FIELD_LABELS)
    assert not missing, missing

def test_a_reviewer_sees_people_masked_but_their_own_name():
    from lib.models import AuditLog as Row

    reviewer = CurrentUser(id=None, username="reviewer", display_name="省级检查组",
                           roles=frozenset({"reviewer"}))

    def row(entity_id, actor="zhou_qiang"):
        return Row(id=1, at=None, actor=actor, action="user.update", entity="user",
                   entity_id=entity_id, before='{"active": true}', after='{"active": false}')

    other = audit.shown(reviewer, row("zhou_qiang"))
    assert other["actor"] == other["entity_id"] == "z*********"
    assert other["before"] == other["after"] == audit.WITHHELD
    own = audit.shown(reviewer, row("reviewer", actor="reviewer"))
    assert own["actor"] == own["entity_id"] == "reviewer"
    # An administrator sees names and what changed.
    full = audit.shown(ADMIN, row("zhou_qiang"))
    assert (full["entity_id"], full["after"]) == ("zhou_qiang", '{"active": false}')


def test_the_system_is_one_actor_in_the_filter_and_finds_its_rows_by_either_name(empty_engine):
    with db.session_scope(empty_engine) as s:
        audit.record(s, actor="system", action="item.update", entity="item", entity_id="S-1",
                     after={"state": "open"})
        audit.record(s, actor="系统", action="item.update", entity="item", entity_id="S-2",
                     after={"state": "open"})
        audit.record(s, actor="admin", action="item.update", entity="item", entity_id="S-3",
                     after={"state": "open"})
    with db.read_scope(empty_engine) as s:
        assert audit.actors(s, ADMIN) == ["admin", "system"]
        assert {r.entity_id for r in audit.search(s, ADMIN, actor="system")} == {"S-1", "S-2"}
        assert audit.count(s, ADMIN, actor="system") == 2
        assert [r.entity_id for r in audit.search(s, ADMIN, actor="admin")] == ["S-3"]
