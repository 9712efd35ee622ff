"""AppTest of every page and form: who may open what, what refuses, and the forms' bad inputs."""

import json

import pytest
from sqlalchemy import func, select

from lib import db
from lib.access import PAGES as PAGE_SPECS
from lib.models import AuditLog, CalendarOverride, Item, Unit, User
from tests.apptest_helpers import LOGIN_KEYS, app, copy_sqlite, errors, login, page_links

PAGES = {"领导驾驶舱": "Home.py", "监察事项": "pages/items.py", "重点工作与项目": "pages/key_work.py",
         "权力运行": "pages/power.py", "专项资金": "pages/funds.py",
         "要素市场": "pages/market.py",
         "网络投诉": "pages/complaints.py",
         "诉求分派与审核": "pages/dispatch.py", "本单位工单": "pages/inbox.py",
         "督办通知": "pages/unit_notices.py", "督办中心": "pages/supervision.py",
         "行政效能": "pages/efficiency.py", "信息公开": "pages/disclosure.py",
         "论坛审核": "pages/moderation.py",
         "数据接入": "pages/data_exchange.py",
         "审计日志": "pages/audit.py", "用户与单位": "pages/admin_users.py",
         "系统设置": "pages/admin_settings.py", "个人设置": "pages/account.py"}
PUBLIC = [p.title for p in PAGE_SPECS if p.public]
# What each role sees in the sidebar, listed as sets; the sidebar's order is access.PAGES's.
_SEES = {
    "admin": {"领导驾驶舱", "监察事项", "重点工作与项目", "权力运行", "专项资金", "要素市场", "信息公开",
              "网络投诉", "行政效能", "论坛审核", "数据接入", "审计日志", "用户与单位", "系统设置", "个人设置"},
    "leader": {"领导驾驶舱", "监察事项", "重点工作与项目", "权力运行", "专项资金", "要素市场", "信息公开",
               "网络投诉", "行政效能", "个人设置"},
    "inspector": {"领导驾驶舱", "监察事项", "重点工作与项目", "权力运行", "专项资金", "要素市场", "信息公开",
                  "网络投诉", "诉求分派与审核", "督办中心", "行政效能", "论坛审核", "数据接入", "审计日志",
                  "个人设置"},
    "staff": {"领导驾驶舱", "监察事项", "重点工作与项目", "权力运行", "专项资金", "信息公开", "本单位工单",
              "督办通知", "行政效能", "个人设置"},
    "reviewer": {"领导驾驶舱", "监察事项", "重点工作与项目", "权力运行", "专项资金", "要素市场", "信息公开",
                 "网络投诉", "诉求分派与审核", "督办中心", "行政效能", "论坛审核", "数据接入", "审计日志",
                 "个人设置"},
}
VISIBLE = {role: [p.title for p in PAGE_SPECS if not p.public and p.title in sees]
           for role, sees in _SEES.items()}


@pytest.fixture
def url(sqlite_demo_url, tmp_path, monkeypatch):
    """A private, writable copy of the demo database for each test."""
    u = copy_sqlite(sqlite_demo_url, tmp_path / "app.db")
    monkeypatch.setenv("DATABASE_URL", u)
    return u


@pytest.mark.parametrize("role", list(VISIBLE))
def test_each_role_sees_its_pages_and_is_refused_the_others(url, role):
    at = login(app(), role)
    assert not at.exception
    assert page_links(at) == VISIBLE[role] + PUBLIC
    for title, path in PAGES.items():
        at.switch_page(path).run()
        assert not at.exception, (role, title, at.exception)
        if title in VISIBLE[role]:
            assert not errors(at), (role, title, errors(at))
        else:
            assert len(errors(at)) == 1
            assert "无权访问" in errors(at)[0] and title in errors(at)[0]
            assert not at.dataframe and not at.metric  # refusal, and no data


def test_a_deep_link_without_login_shows_only_the_login_form(url):
    at = app()
    at.switch_page("pages/admin_users.py").run()
    assert [t.key for t in at.text_input] == LOGIN_KEYS
    assert not at.dataframe


def test_wrong_password_then_lockout_through_the_form(url):
    at = app().run()
    for i in range(4):
        login(at, "leader", f"wrong{i}")
        assert any("用户名或密码错误" in e for e in errors(at))
    login(at, "leader", "wrong5")
    assert any("已锁定 15 分钟" in e for e in errors(at))
    login(at, "leader")  # the right password, while locked
    assert any("账号已锁定" in e for e in errors(at))
    assert not at.metric


def test_logout(url):
    at = login(app(), "leader")
    next(b for b in at.button if b.label == "退出登录").click()
    at.run()
    assert any("您已安全退出" in i.value for i in at.info)
    assert [t.key for t in at.text_input] == LOGIN_KEYS
    assert not at.metric


def _cookie_writes(at) -> list[tuple]:
    """What the cookie manager's components on the page are asked to do (set or delete)."""
    out = []
    for el in at.get("component_instance"):
        args = json.loads(el.proto.json_args)
        if args.get("method") in ("set", "delete"):
            out.append((args["method"], args.get("cookie"), args.get("value"),
                        args.get("options", {}).get("expires")))
    return out


def _cookie_components(at) -> list[str]:
    return [json.loads(el.proto.json_args).get("method") for el in at.get("component_instance")]


def test_the_login_cookie_is_drawn_in_every_run_until_sign_out(url):
    """A run cut short by the next one must not lose the cookie: the session that signed in
    draws the same cookie (same token, same expiry) in each of its runs; the session that signed
    out draws the deletion in each run on the login form, until it signs in again, and never in
    the run that signs in. No component reads the browser's cookies (it only cost a second run)."""
    at = app().run()
    assert _cookie_components(at) == []  # the login form: nothing read, nothing written
    at = login(at, "leader")
    first = _cookie_writes(at)
    assert [(m, c) for m, c, _, _ in first] == [("set", "esup_auth")]
    assert first[0][2]  # a token
    at.run()
    assert _cookie_writes(at) == first
    at.switch_page("pages/items.py").run()
    assert _cookie_writes(at) == first
    assert "getAll" not in _cookie_components(at)
    next(b for b in at.button if b.label == "退出登录").click()
    at.run()
    assert [m for m, _, _, _ in _cookie_writes(at)] == ["delete"]
    at.run()
    assert [m for m, _, _, _ in _cookie_writes(at)] == ["delete"]  # still deleting
    login(at, "leader")
    again = _cookie_writes(at)
    assert [m for m, _, _, _ in again] == ["set"]  # signing in: no deletion beside it
    at.run()
    assert _cookie_writes(at) == again


def _items_of(url, unit_code, state="open"):
    engine = db.get_engine(url)
    with db.session_scope(engine) as s:
        unit = s.scalar(select(Unit.id).where(Unit.code == unit_code))
        return list(s.scalars(select(Item.external_id).where(Item.unit_id == unit,
                                                            Item.state == state).limit(3)))


def test_staff_list_holds_only_their_unit_and_a_deep_link_elsewhere_is_refused(url):
    at = login(app(), "staff")
    at.switch_page("pages/items.py").run()
    assert not at.exception
    listed = at.dataframe[0].value
    assert set(listed["责任单位"]) == {"遂溪县自然资源局"}
    other = _items_of(url, "ZJ.FG")[0]
    at.query_params["item"] = other
    at.run()
    assert any("无法查看该事项" in e and "其他单位" in e for e in errors(at))
    assert not any(other in m.value for m in at.markdown)


def test_a_domain_page_tells_a_clerk_it_shows_their_unit_and_a_leader_the_city(url):
    """A clerk's domain pages hold only the unit's records: the caption names the unit, not
    全市 (which a leader's says)."""
    clerk, leader = login(app(), "staff"), login(app(), "leader")
    for path in ("pages/power.py", "pages/funds.py", "pages/disclosure.py"):
        for at, says, never in ((clerk, "遂溪县自然资源局（本单位）", "全市"),
                                (leader, "全市", "本单位")):
            at.switch_page(path).run()
            assert not at.exception and not errors(at), (path, errors(at))
            caption = at.caption[0].value
            assert says in caption and never not in caption, (path, caption)


def test_a_rule_findings_card_is_shown_as_a_finding_not_with_a_time_limit(url):
    """监察事项's detail of a rule's card: where it came from, not a 时限 it never had (its
    receipt, deadline and completion are one moment)."""
    from lib.models import Flag

    with db.read_scope(db.get_engine(url)) as s:
        ext, code = s.execute(select(Item.external_id, Flag.code)
                              .join(Flag, Flag.item_id == Item.id).limit(1)).one()
    at = login(app(), "inspector")
    at.switch_page("pages/items.py")
    at.query_params["item"] = ext
    at.run()
    assert not at.exception and not errors(at)
    text = "\n".join(m.value for m in at.markdown)
    assert f"来源：规则 {code}" in text and "- 时限：" not in text and "办理期限" not in text


def test_staff_record_a_completion(url):
    mine = _items_of(url, "440823.ZRZY")[0]
    at = login(app(), "staff")
    at.switch_page("pages/items.py")
    at.query_params["item"] = mine
    at.run()
    assert not at.exception
    assert any("办结登记" in m.value for m in at.markdown)
    at.text_area[0].input("已办结，详见文书")
    next(b for b in at.button if b.label == "确认办结").click()
    at.run()
    assert not at.exception, at.exception
    with db.session_scope(db.get_engine(url)) as s:
        assert s.scalar(select(Item.state).where(Item.external_id == mine)) == "completed"
        last = s.scalar(select(AuditLog).where(AuditLog.action == "item.complete")
                        .order_by(AuditLog.id.desc()).limit(1))
        assert (last.actor, last.entity_id) == ("staff", mine)


def test_reviewer_sees_no_staff_names(url):
    with db.session_scope(db.get_engine(url)) as s:  # an item with a named handler
        ext = s.scalar(select(Item.external_id).where(Item.handler_id.is_not(None)).limit(1))
    at = login(app(), "reviewer")
    at.switch_page("pages/items.py")
    at.query_params["item"] = ext
    at.run()
    details = "\n".join(m.value for m in at.markdown)
    handler_line = next(line for line in details.splitlines() if "经办人" in line)
    assert "*" in handler_line


def test_admin_creates_a_user_and_bad_input_writes_nothing(url):
    at = login(app(), "admin")
    at.switch_page("pages/admin_users.py").run()
    assert not at.exception
    at.text_input(key="new_username").input("zhou_qiang")
    at.text_input(key="new_display_name").input("周强")
    at.text_input(key="new_password").input("short")
    at.multiselect(key="new_roles").select("leader")
    next(b for b in at.button if b.label == "创建用户").click()
    at.run()
    assert any("未创建" in e and "至少 8 位" in e for e in errors(at))
    with db.session_scope(db.get_engine(url)) as s:
        assert s.scalar(select(User).where(User.username == "zhou_qiang")) is None
    at.text_input(key="new_password").input("Zhouqiang#2026")
    next(b for b in at.button if b.label == "创建用户").click()
    at.run()
    assert not errors(at)
    with db.session_scope(db.get_engine(url)) as s:
        assert s.scalar(select(User.roles).where(User.username == "zhou_qiang")) == "leader"


def test_admin_adds_a_township_unit_its_level_from_the_region_picked(url):
    """用户与单位 · 单位: a township's unit can be added (the form offered only 市直 and 县);
    the level goes with the region picked; an empty name writes nothing."""
    from lib.models import Region

    with db.read_scope(db.get_engine(url)) as s:
        town = s.scalar(select(Region).where(Region.level == "town").order_by(Region.code.desc()))
        units_before = s.scalar(select(func.count()).select_from(Unit))
    at = login(app(), "admin")
    at.switch_page("pages/admin_users.py").run()
    assert not at.exception
    region = next(b for b in at.selectbox if b.label.startswith("所属区域"))
    region.set_value(town.id)
    next(t for t in at.text_input if t.label == "单位代码").input(f"{town.code}.SF")
    next(b for b in at.button if b.label == "新增单位").click()
    at.run()
    assert any("未新增" in e and "单位名称不能为空" in e for e in errors(at)), errors(at)
    with db.read_scope(db.get_engine(url)) as s:
        assert s.scalar(select(func.count()).select_from(Unit)) == units_before
    next(t for t in at.text_input if t.label == "单位名称").input(f"{town.name}司法所")
    next(b for b in at.selectbox if b.label.startswith("所属区域")).set_value(town.id)
    next(b for b in at.button if b.label == "新增单位").click()
    at.run()
    assert not errors(at), errors(at)
    with db.read_scope(db.get_engine(url)) as s:
        made = s.scalar(select(Unit).where(Unit.code == f"{town.code}.SF"))
        assert (made.level, made.region_id, made.name) == ("town", town.id, f"{town.name}司法所")


def test_admin_sets_a_calendar_override(url):
    at = login(app(), "admin")
    at.switch_page("pages/admin_settings.py").run()
    assert not at.exception
    from lib.access import ACTIONS

    assert any(len(t.value) == len(ACTIONS) for t in at.table)  # the permission matrix
    from datetime import date

    at.date_input[0].set_value(date(2026, 12, 1))
    next(t for t in at.text_input if t.label == "原因").input("台风停工")
    next(b for b in at.button if b.label == "保存调整").click()
    at.run()
    assert not at.exception and not errors(at)
    with db.session_scope(db.get_engine(url)) as s:
        row = s.get(CalendarOverride, date(2026, 12, 1))
        assert row is not None and not row.is_workday and row.note == "台风停工"


def test_admin_sets_the_public_loops_limits_and_a_bad_value_saves_nothing(url):
    """系统设置 · 群众诉求时限: a bad value beside a good one is refused in Chinese and neither
    is saved; then the review's limit is saved and the dispatch page reads it."""
    from lib import submissions as subs
    from lib.models import AppSetting

    at = login(app(), "admin")
    at.switch_page("pages/admin_settings.py").run()
    assert not at.exception
    box = {t.key: t for t in at.text_input if (t.key or "").startswith("setting_")}
    assert set(box) == {f"setting_{k}" for k in subs.DEFAULT_SETTINGS}
    box["setting_review_limit"].input("3wd")
    box["setting_rework_limit"].input("五天")
    next(b for b in at.button if b.label == "保存" and b.form_id == "submission_settings").click()
    at.run()
    assert any("未保存" in e and "重办时限" in e for e in errors(at)), errors(at)
    with db.read_scope(db.get_engine(url)) as s:
        assert s.get(AppSetting, "review_limit") is None and s.get(AppSetting, "rework_limit") is None
    next(t for t in at.text_input if t.key == "setting_rework_limit").input("5wd")
    next(b for b in at.button if b.label == "保存" and b.form_id == "submission_settings").click()
    at.run()
    assert not errors(at) and any(x.value == "已保存" for x in at.success)
    with db.read_scope(db.get_engine(url)) as s:
        assert subs.get_setting(s, "review_limit") == "3wd"
    inspector = login(app(), "inspector")
    inspector.switch_page("pages/dispatch.py").run()
    assert any("答复后 3个工作日内审核" in c.value for c in inspector.caption)


def test_inspector_reads_and_verifies_the_audit_log(url):
    at = login(app(), "inspector")
    at.switch_page("pages/audit.py").run()
    assert not at.exception
    next(b for b in at.button if b.label == "立即校验").click()
    at.run()
    assert any("审计链完整" in s.value for s in at.success)
    # Over the whole log: the count is the log's, not the 1,000 rows shown; records in words.
    from datetime import date

    from lib import audit
    from lib.clock import now_utc
    from lib.config import TZ

    at.date_input[0].set_value((date(2024, 1, 1), now_utc().astimezone(TZ).date())).run()
    with db.read_scope(db.get_engine(url)) as s:
        total = s.scalar(select(func.count()).select_from(AuditLog))
    assert total > 1000
    shown = next(df.value for df in at.dataframe if "对象" in df.value.columns)
    assert len(shown) == 1000
    assert any(c.value.startswith(f"共 {total:,} 条，新的在前；显示最新的 1,000 条") for c in at.caption), \
        [c.value for c in at.caption]
    assert not set(shown["对象"]) & set(audit.ENTITY_NAMES), set(shown["对象"])
    # What each write changed, in words: a completed item's state, not its raw JSON.
    next(b for b in at.selectbox if b.label == "操作类型").set_value("item.complete").run()
    completed = next(df.value for df in at.dataframe if "变更内容" in df.value.columns)
    assert len(completed) > 100 and set(completed["操作"]) == {audit.action_label("item.complete")}
    assert completed["变更内容"].str.startswith("状态：在办 → 已办结；办结时间：— → ").all(), \
        completed["变更内容"].head()


def test_change_password_form(url):
    at = login(app(), "leader")
    at.switch_page("pages/account.py").run()
    fields = {t.label: t for t in at.text_input}
    fields["原密码"].input("Lingdao@2026")
    fields["新密码"].input("Xinmima#2027")
    fields["再次输入新密码"].input("Different#2027")
    next(b for b in at.button if b.label == "修改密码").click()
    at.run()
    assert any("不一致" in e for e in errors(at))


def test_supervision_sweep_notice_and_rectification(url):
    """Inspectors sweep; the staff's unit acknowledges and reports; inspectors close it."""
    from lib import notices
    from lib.models import Notice

    engine = db.get_engine(url)
    from lib.importer import import_items

    with db.session_scope(engine) as s:  # an overdue item of the staff's unit
        import_items(s, "external_id,subsystem,unit,received_at,time_limit,completed_at\n"
                     "OVERDUE-1,FEES,440823.ZRZY,2026-10-08T09:00,48h,\n", actor="t")
    inspector = login(app(), "inspector")
    inspector.switch_page("pages/supervision.py").run()
    assert not inspector.exception
    next(b for b in inspector.button if b.label == "立即扫描").click()
    inspector.run()
    assert any("扫描完成" in x.value for x in inspector.success)
    with db.session_scope(engine) as s:
        staff_unit = s.scalar(select(Unit.id).where(Unit.code == "440823.ZRZY"))
        nid = s.scalar(select(Notice.id).where(Notice.unit_id == staff_unit)
                       .order_by(Notice.id.desc()).limit(1))
        assert nid is not None
    assert any(d.value.shape[0] > 0 for d in inspector.dataframe)
    previews = inspector.get("html")  # the printable notice's preview, in its own box
    assert len(previews) == 1 and f'class="{notices.PREVIEW_CLASS}"' in previews[0].proto.body

    staff = login(app(), "staff")
    staff.switch_page("pages/unit_notices.py").run()
    assert not staff.exception
    staff.selectbox[0].set_value(nid).run()
    next(b for b in staff.button if b.label == "签收").click()
    staff.run()
    staff.selectbox[0].set_value(nid).run()
    staff.text_area[0].input("太短")
    next(b for b in staff.button if b.label == "提交整改报告").click()
    staff.run()
    assert any("至少 10 个字" in e for e in errors(staff))
    staff.text_area[0].input("逾期原因：材料补正耗时。措施：一次性告知。结果：已办结。")
    next(b for b in staff.button if b.label == "提交整改报告").click()
    staff.run()
    assert not errors(staff)
    with db.session_scope(engine) as s:
        assert s.get(Notice, nid).status == "rectified"
        html_doc = notices.printable_html(s, notices_user(), nid)
        preview = notices.printable_html(s, notices_user(), nid, preview=True)
    assert "督办通知书" in html_doc and "遂溪县自然资源局" in html_doc
    assert "@page" in html_doc and "\nbody {" in html_doc and "\nh1 {" in html_doc
    # The preview shown inside the page: the same notice, every style rule confined to its
    # own box (a bare `body` or `h1` rule narrowed the whole page and centred its title).
    assert "遂溪县自然资源局" in preview and "<body" not in preview and "@page" not in preview
    css = preview.split("<style>")[1].split("</style>")[0]
    rules = [line for line in css.splitlines() if line.strip()]
    assert rules and all(line.startswith(f".{notices.PREVIEW_CLASS}") for line in rules), rules


def notices_user():
    from lib.access import CurrentUser

    return CurrentUser(None, "jiancha", "监察", frozenset({"inspector"}))


def test_appeal_through_the_pages(url):
    """Staff appeal a red card; the inspector cancels it; it leaves the lights."""
    from lib import queries
    from lib.access import SYSTEM
    from lib.clock import now_utc
    from lib.importer import import_items
    from lib.models import Appeal

    engine = db.get_engine(url)
    with db.session_scope(engine) as s:
        import_items(s, "external_id,subsystem,unit,received_at,time_limit,completed_at\n"
                     "APPEAL-1,FEES,440823.ZRZY,2026-10-08T09:00,48h,\n", actor="t")
        item_id = s.scalar(select(Item.id).where(Item.external_id == "APPEAL-1"))
    staff = login(app(), "staff")
    staff.switch_page("pages/unit_notices.py").run()
    assert not staff.exception
    box = next(sb for sb in staff.selectbox if sb.label == "红牌事项")
    box.set_value(item_id)
    reason = next(t for t in staff.text_area if t.label == "申诉理由")
    reason.input("短")
    next(b for b in staff.button if b.label == "提出申诉").click()
    staff.run()
    assert any("至少 10 个字" in e for e in errors(staff))
    next(sb for sb in staff.selectbox if sb.label == "红牌事项").set_value(item_id)
    next(t for t in staff.text_area if t.label == "申诉理由").input("系统故障停机三天，附停机通知。")
    next(b for b in staff.button if b.label == "提出申诉").click()
    staff.run()
    assert not errors(staff)
    with db.session_scope(engine) as s:
        aid = s.scalar(select(Appeal.id).where(Appeal.item_id == item_id))
    inspector = login(app(), "inspector")
    inspector.switch_page("pages/supervision.py").run()
    inspector.text_input(key=f"appeal_note_{aid}").input("停机属实，撤销")
    next(b for b in inspector.button if b.label == "撤销红牌").click()
    inspector.run()
    assert not errors(inspector)
    with db.session_scope(engine) as s:
        lights = {e: lt for e, _, lt in queries.item_lights(s, user=SYSTEM, as_of=now_utc())}
    assert lights["APPEAL-1"] == "green"


def test_key_work_page_and_a_node_report(url):
    """A leader sees every project; a staff member of the project's unit reports progress."""
    from lib.models import KeyProject, ProjectNode

    leader = login(app(), "leader")
    leader.switch_page("pages/key_work.py").run()
    assert not leader.exception and not errors(leader)
    assert {m.label for m in leader.metric} >= {"重点工作督办完成", "节点按时完成率"}
    engine = db.get_engine(url)
    with db.session_scope(engine) as s:  # give the demo staff's unit a project
        unit = s.scalar(select(Unit.id).where(Unit.code == "440823.ZRZY"))
        project = s.scalar(select(KeyProject).where(KeyProject.completed_on.is_(None)))
        project.unit_id = unit
        current = None
        for node in s.scalars(select(ProjectNode).where(ProjectNode.project_id == project.id)
                              .order_by(ProjectNode.seq)):
            item = s.get(Item, node.item_id)
            item.unit_id = unit
            if current is None and item.state == "open":
                current = node.item_id  # the node in progress
        pid = project.id
    staff = login(app(), "staff")
    staff.switch_page("pages/key_work.py").run()
    assert not staff.exception
    staff.selectbox(key="project_pick").set_value(pid).run()
    staff.selectbox(key="node_pick").set_value(current).run()
    assert any(b.label == "提交" for b in staff.button)
    staff.slider[0].set_value(100)
    next(b for b in staff.button if b.label == "提交").click()
    staff.run()
    assert not staff.exception and not errors(staff)


# -- the provincial reviewer: every page, read-only, no personal data ---------------------------

def _everything_shown(at) -> list[str]:
    """Every piece of text the page put on screen: markdown, captions, alerts, metrics, tables,
    the options of every selector, labels of tabs and expanders, and embedded HTML."""
    out = []
    for kind in ("markdown", "caption", "text", "title", "header", "subheader", "info", "warning",
                 "success", "error", "code", "latex"):
        out += [str(e.value) for e in at.get(kind)]
    out += [f"{m.label} {m.value}" for m in at.metric]
    for frame in list(at.dataframe) + list(at.table):
        df = frame.value
        out += [str(c) for c in df.columns]
        out += [str(v) for v in df.astype(str).to_numpy().ravel()]
    for kind in ("selectbox", "multiselect", "radio", "segmented_control", "pills"):
        for w in at.get(kind):
            out += [str(o) for o in getattr(w.proto, "options", [])]
    out += [e.proto.label for e in at.get("expandable")] + [t.proto.label for t in at.get("tab")]
    out += [e.proto.body for e in at.get("html")]
    return out


def _personal_data(url) -> tuple[set[str], set[str]]:
    """(names, exact values) that must never reach the reviewer: every official's name, every
    other account's name and username, every reporter's name and contact, and the public's own
    words."""
    from lib import privacy
    from lib.models import Person, Submission

    with db.session_scope(db.get_engine(url)) as s:
        names = set(s.scalars(select(Person.name)))
        accounts = s.execute(select(User.username, User.display_name)
                             .where(User.username != "reviewer")).all()
        senders = s.execute(select(Submission.name_enc, Submission.contact_enc,
                                   Submission.body)).all()
    names |= {display.split("（")[0] for _, display in accounts}
    exact = {username for username, _ in accounts}
    for name_enc, contact_enc, body in senders:
        names |= {v for v in (privacy.decrypt(name_enc), privacy.decrypt(contact_enc)) if v}
        names.add(body)
    return names, exact


def test_a_reviewer_opens_every_page_with_nothing_to_submit_and_no_personal_data(url):
    from lib import access

    reviewer = access.CurrentUser(None, "reviewer", "省级检查组", frozenset({"reviewer"}))
    pages = [p for p in access.visible_pages(reviewer)]
    inspector_or_leader = {p.key for role in ("inspector", "leader") for p in access.visible_pages(
        access.CurrentUser(None, "x", "x", frozenset({role})))}
    assert {p.key for p in pages} == inspector_or_leader
    names, exact = _personal_data(url)
    at = login(app(), "reviewer")
    seen = 0
    for spec in pages:
        runs = [at.switch_page(spec.path).run()]
        if spec.key == "efficiency":  # people are ranked too: their names must be masked
            runs.append(at.radio(key="eff_level").set_value("个人").run())
        for run in runs:
            assert not run.exception, (spec.title, run.exception)
            assert not errors(run), (spec.title, errors(run))
            # Nothing to submit: no form, and no button but signing out and checking the chain.
            assert not [b for b in run.button if b.proto.is_form_submitter], spec.title
            assert {b.label for b in run.button} <= {"退出登录", "立即校验"}, spec.title
            shown = _everything_shown(run)
            leaks = {n for n in names for text in shown if n and n in text}
            leaks |= {v for v in shown if v in exact}
            assert not leaks, (spec.title, sorted(leaks)[:5])
            seen += len(shown)
    assert seen > 2000  # the pages really showed their data


def test_admin_changes_a_yellow_threshold_and_is_told_the_rollups_are_rebuilt(url):
    from lib import rollups
    from lib.clock import now_utc

    at = login(app(), "admin")
    at.switch_page("pages/admin_settings.py").run()
    assert not at.exception
    with db.session_scope(db.get_engine(url)) as s:
        assert rollups.as_of_source(s, now_utc()) == "rollups"
    # The table's first row edited as the browser sends it (a data editor's edits).
    at.session_state["threshold_editor"] = {"edited_rows": {0: {"yellow_pct": 35}},
                                            "added_rows": [], "deleted_rows": []}
    next(b for b in at.button if b.label == "保存").click()
    at.run()
    assert not at.exception and not errors(at)
    assert any("已保存 1 个子系统" in s.value for s in at.success)
    assert any("黄牌阈值已改" in i.value for i in at.info)
    with db.session_scope(db.get_engine(url)) as s:
        assert rollups.as_of_source(s, now_utc()) == "direct"  # until the sweep rebuilds
