"""Import kinds of the core records: units, users (activation codes, first sign-in), public
complaints, key projects and their nodes — good files, re-imports, and bad inputs."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from lib import auth, db, exchange
from lib.models import AuditLog, Item, KeyProject, ProjectNode, Submission, Unit, User


def run(engine, kind, text, actor="导入员"):
    with db.session_scope(engine) as s:
        return exchange.import_bytes(s, kind, text.encode("utf-8"), filename=f"{kind}.csv",
                                     actor=actor)


def refused(engine, kind, text, expected):
    with pytest.raises(exchange.ImportFailed) as err:
        run(engine, kind, text)
    assert expected in str(err.value), str(err.value)


def count(engine, model, *where):
    with db.read_scope(engine) as s:
        return s.scalar(select(func.count()).select_from(model).where(*where))


def test_units(empty_engine):
    header = "code,name,level,county\n"
    r = run(empty_engine, "units", header + "440823.WJ,遂溪县卫生健康局,county,440823\n"
                                            "ZJ.DAG,湛江市档案馆,市直,\n")
    assert (r.created, r.updated) == (2, 0)
    r = run(empty_engine, "units", header + "ZJ.DAG,湛江市档案局,municipal,\n")
    assert r.updated == 1
    with db.read_scope(empty_engine) as s:
        assert s.scalar(select(Unit.name).where(Unit.code == "ZJ.DAG")) == "湛江市档案局"
    refused(empty_engine, "units", header + "440823.X,某局,county,\n", "县级单位须填写所属区县")
    refused(empty_engine, "units", header + "ZJ.X,某局,municipal,440823\n", "市直单位不填所属区县")
    refused(empty_engine, "units", header + "ZJ.X,某局,province,\n", "不是可选值")
    refused(empty_engine, "units", header + "ZJ.X,某局,county,999999\n", "未知区县")


def test_users_get_an_activation_code_and_set_their_password(empty_engine):
    header = "username,display_name,roles,unit,active\n"
    r = run(empty_engine, "users", header + "liwei,李伟,部门经办人,440823.ZRZY,1\n"
                                            "wangfang,王芳,\"leader,inspector\",,\n")
    assert r.created == 2 and [name for name, _ in r.secrets] == ["liwei", "wangfang"]
    code = dict(r.secrets)["liwei"]
    with db.read_scope(empty_engine) as s:
        stored = s.scalar(select(User.password_hash).where(User.username == "liwei"))
        assert code not in stored and stored.startswith(auth.ACTIVATION_PREFIX)
        # The code is never written anywhere else: not the history, not the audit trail.
        assert not s.scalar(select(func.count()).select_from(AuditLog)
                            .where(AuditLog.after.like(f"%{code}%")))
    with db.session_scope(empty_engine) as s:
        assert "尚未激活" in auth.authenticate(s, "liwei", code).message
    with db.session_scope(empty_engine) as s, pytest.raises(auth.AccountError, match="激活码不正确"):
        auth.activate(s, "liwei", "AAAA-BBBB-CCCC", "Xinmima#2026", "Xinmima#2026")
    with db.session_scope(empty_engine) as s, pytest.raises(auth.AccountError, match="不一致"):
        auth.activate(s, "liwei", code, "Xinmima#2026", "Xinmima#2027")
    with db.session_scope(empty_engine) as s, pytest.raises(auth.AccountError, match="至少"):
        auth.activate(s, "liwei", code, "short", "short")
    with db.session_scope(empty_engine) as s:
        auth.activate(s, "liwei", code.lower(), "Xinmima#2026", "Xinmima#2026")
    with db.session_scope(empty_engine) as s:
        assert auth.authenticate(s, "liwei", "Xinmima#2026").user is not None
    with db.session_scope(empty_engine) as s, pytest.raises(auth.AccountError, match="无需激活"):
        auth.activate(s, "liwei", code, "Xinmima#2027", "Xinmima#2027")
    r = run(empty_engine, "users", header + "liwei,李伟,部门经办人,440823.CZ,1\n")
    assert r.updated == 1 and not r.secrets
    refused(empty_engine, "users", header + "zhao,赵,staff,,\n", "部门经办人必须填写所属单位")
    refused(empty_engine, "users", header + "Bad Name,赵,leader,,\n", "不合规")
    refused(empty_engine, "users", header + "zhao,赵,boss,,\n", "未知角色：boss")


def test_complaints_are_routed_and_answered_under_forced_response(empty_engine):
    header = "code,kind,subject,body,received_at,county,unit,anonymous,name,contact\n"
    r = run(empty_engine, "complaints", header
            + "RX26000123,投诉,路灯不亮,小区门口路灯坏了两周。,2026-10-08T09:30,440823,,0,陈某,138\n"
            + "rx26000124,举报,违规收费,某窗口收取材料费五十元。,2026-10-09T10:00,,ZJ.SCJG,1,,\n")
    assert r.created == 2
    with db.read_scope(empty_engine) as s:
        sub = s.scalar(select(Submission).where(Submission.code == "RX26000124"))
        assert sub.anonymous and sub.name_enc is None and sub.unit_id is not None
        assert s.get(Item, sub.item_id).received_at.isoformat().startswith("2026-10-09T02:00")
    r = run(empty_engine, "complaints", header
            + "RX26000123,投诉,路灯不亮（补充）,小区门口路灯坏了两周。,2026-10-08T09:30,440823,,0,,\n")
    assert r.updated == 1
    refused(empty_engine, "complaints", header + "A1,投诉,标题,内容足够长了,2026-10-08,,,0,,\n",
            "须为 6–16 位")
    refused(empty_engine, "complaints", header + "RX2600X,建议,标题,内容足够长了,2026-10-08,,,1,,\n",
            "只有举报可以匿名")
    refused(empty_engine, "complaints", header + "RX2600Y,投诉,标题,内容足够长了,2099-10-08,,,0,,\n",
            "晚于当前时间")


def test_projects_and_nodes(empty_engine):
    ph = "code,name,unit,county,budget_wan,start_date,due_date,completed_on\n"
    nh = "project,seq,node_type,planned_start,planned_end,percent_done,completed_at\n"
    assert run(empty_engine, "projects", ph + "XM9001,遂溪县供水改造,ZJ.ZJ,440823,12000,"
               "2026-03-01,2027-06-30,\n").created == 1
    r = run(empty_engine, "nodes", nh + "XM9001,1,立项,2026-03-01,2026-04-15,,2026-04-10T16:00\n"
                                        "XM9001,2,招标,2026-04-16,2026-05-30,40,\n")
    assert r.created == 2
    with db.read_scope(empty_engine) as s:
        assert s.scalar(select(func.count()).select_from(ProjectNode)) == 2
        item = s.scalar(select(Item).where(Item.external_id == "XM9001-2"))
        assert item.deadline.isoformat().startswith("2026-05-30T16:00")  # 24:00 of May 30
    r = run(empty_engine, "nodes", nh + "XM9001,2,招标,2026-04-16,2026-05-30,60,\n")
    assert r.updated == 1
    refused(empty_engine, "nodes", nh + "XM0000,1,立项,2026-03-01,2026-04-15,,\n", "未知项目")
    refused(empty_engine, "nodes", nh + "XM9001,3,进度,2026-05-01,2026-04-01,,\n", "早于计划开始")
    refused(empty_engine, "nodes", nh + "XM9001,3,进度,2026-04-01,2026-05-01,120,\n", "超过 100%")
    refused(empty_engine, "nodes", nh + "XM9001,3,进度,2026-04-01,2026-05-01,,\n"
            "XM9001,3,进度,2026-04-01,2026-05-01,,\n", "重复")
    refused(empty_engine, "projects", ph + "XM9002,项目,ZJ.NOPE,,,2026-03-01,2026-01-01,\n",
            "未知单位")
    with db.read_scope(empty_engine) as s:
        assert s.scalar(select(func.count()).select_from(KeyProject)) == 1


@pytest.mark.parametrize("kind", ["units", "users", "complaints", "projects", "nodes"])
def test_every_core_kind_refuses_an_empty_file_and_a_missing_column(empty_engine, kind):
    refused(empty_engine, kind, "", "文件为空")
    k = exchange.load_kinds()[kind]
    header = ",".join(c.code for c in k.columns[1:])
    refused(empty_engine, kind, header + "\n", "表头缺少列")


def test_every_kind_exports_what_it_imports(empty_engine):
    """Each kind with an export: exported rows import back with nothing changed."""
    run(empty_engine, "units", "code,name,level,county\nZJ.DAG,湛江市档案馆,municipal,\n")
    for code, kind in exchange.load_kinds().items():
        if kind.export is None:
            continue
        with db.read_scope(empty_engine) as s:
            header, rows = exchange.export_table(s, code)
        if not rows:
            continue
        import io

        out = io.StringIO()
        exchange.write_csv(header, rows, out)
        result = run(empty_engine, code, out.getvalue())
        assert result.created == 0 and result.updated == 0, code
