"""Roles, the permission matrix and the pages each role may open, in one place.

The library enforces these rules itself (`require`, `unit_scope`): hiding a menu item is not
security. Staff (部门经办人) are bound to one unit and read and change only its items.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import pandas as pd

ROLES = {
    "admin": "系统管理员",
    "leader": "领导",
    "inspector": "纪检监察",
    "staff": "部门经办人",
    "reviewer": "省级检查/演示",
}

ACTIONS = {
    "view_cockpit": "查看领导驾驶舱",
    "view_items": "查看监察事项",
    "view_all_units": "查看全部单位的数据",
    "update_items": "办理登记（仅本单位事项）",
    "import_items": "导入监察事项",
    "view_staff_names": "查看经办人等工作人员姓名",
    "view_reporter_identity": "查看举报人身份（每次查看留痕）",
    "view_payee_identity": "查看资金收款人证件号和收款账号（每次查看留痕）",
    "view_audit": "查看审计日志",
    "handle_submissions": "办理本单位的群众诉求工单（签收、答复、转办、退单、延期）",
    "dispatch_submissions": "分派、审核群众诉求，审批延期，发回重办，公开答复；督办、核查、申诉审理、问责",
    "view_supervision": "查看督办中心、诉求分派与审核（只读）",
    "view_data": "查看数据接入的模板、导入记录与同步源（只读）",
    "view_complaints": "查看网络投诉统计",
    "publish_rankings": "公布行政效能排名（公布后不可更改）",
    "manage_content": "编辑热点问题与政策",
    "manage_users": "管理用户",
    "manage_units": "管理单位",
    "manage_settings": "设置灯色阈值与工作日历",
    "review_flags": "核查规则发现（属实或排除），登记追回金额",
    "view_forum": "查看论坛审核队列与投票结果（只读）",
    "moderate_forum": "审核论坛帖子（通过、不予通过、隐藏、恢复），处理举报",
    "manage_polls": "发起、关闭投票评价",
    "change_own_password": "修改本人密码",
}

# Role × action, readable at a glance. The provincial reviewer (省级检查/演示) sees every page an
# inspector or a leader sees, read-only: no action that writes (not even its own password: the
# account is shared), and no personal data (staff names masked, reporters' identities and the
# public's words withheld).
MATRIX: dict[str, set[str]] = {
    "admin": {"view_cockpit", "view_items", "view_all_units", "import_items", "view_data",
              "view_staff_names",
              "view_audit", "manage_users", "manage_units", "manage_settings", "view_complaints",
              "manage_content", "publish_rankings", "change_own_password", "view_forum",
              "manage_polls"},
    "leader": {"view_cockpit", "view_items", "view_all_units", "view_staff_names",
               "view_complaints", "change_own_password"},
    "inspector": {"view_cockpit", "view_items", "view_all_units", "import_items", "view_data",
                  "view_staff_names", "view_reporter_identity", "view_audit",
                  "dispatch_submissions", "view_supervision", "view_complaints",
                  "publish_rankings", "change_own_password", "review_flags",
                  "view_payee_identity", "view_forum", "moderate_forum", "manage_polls"},
    "staff": {"view_cockpit", "view_items", "update_items", "view_staff_names",
              "handle_submissions", "change_own_password"},
    "reviewer": {"view_cockpit", "view_items", "view_all_units", "view_complaints",
                 "view_supervision", "view_audit", "view_data", "view_forum"},
}


@dataclass(frozen=True)
class PageSpec:
    key: str
    path: str
    title: str
    icon: str
    action: str | None  # None: any signed-in user
    public: bool = False  # open to everyone, no sign-in


PAGES = [
    # Material icons: they render without an emoji font on the workstation.
    PageSpec("cockpit", "Home.py", "领导驾驶舱", ":material/dashboard:", "view_cockpit"),
    PageSpec("items", "pages/items.py", "监察事项", ":material/list_alt:", "view_items"),
    PageSpec("key_work", "pages/key_work.py", "重点工作与项目", ":material/flag:", "view_items"),
    PageSpec("power", "pages/power.py", "权力运行", ":material/account_balance:", "view_items"),
    PageSpec("market", "pages/market.py", "要素市场", ":material/storefront:", "view_all_units"),
    PageSpec("funds", "pages/funds.py", "专项资金", ":material/payments:", "view_items"),
    PageSpec("disclosure", "pages/disclosure.py", "信息公开", ":material/folder_open:",
             "view_items"),
    PageSpec("complaints", "pages/complaints.py", "网络投诉", ":material/forum:",
             "view_complaints"),
    PageSpec("dispatch", "pages/dispatch.py", "诉求分派与审核", ":material/assignment_ind:",
             "view_supervision"),
    PageSpec("inbox", "pages/inbox.py", "本单位工单", ":material/inbox:", "handle_submissions"),
    PageSpec("unit_notices", "pages/unit_notices.py", "督办通知", ":material/notification_important:",
             "handle_submissions"),
    PageSpec("supervision", "pages/supervision.py", "督办中心", ":material/gavel:",
             "view_supervision"),
    PageSpec("efficiency", "pages/efficiency.py", "行政效能", ":material/leaderboard:",
             "view_cockpit"),
    PageSpec("moderation", "pages/moderation.py", "论坛审核", ":material/rate_review:",
             "view_forum"),
    PageSpec("data", "pages/data_exchange.py", "数据接入", ":material/upload_file:",
             "view_data"),
    PageSpec("audit", "pages/audit.py", "审计日志", ":material/policy:", "view_audit"),
    PageSpec("users", "pages/admin_users.py", "用户与单位", ":material/group:", "manage_users"),
    PageSpec("settings", "pages/admin_settings.py", "系统设置", ":material/settings:",
             "manage_settings"),
    PageSpec("account", "pages/account.py", "个人设置", ":material/key:", None),
    # The public portal (清风竹影): no sign-in, nothing internal.
    PageSpec("submit", "pages/public_submit.py", "我要反映", ":material/edit_note:", None, True),
    PageSpec("track", "pages/public_track.py", "办理进度查询", ":material/search:", None, True),
    PageSpec("board", "pages/public_board.py", "答复公开", ":material/campaign:", None, True),
    PageSpec("hot", "pages/public_hot.py", "热点与政策", ":material/newspaper:", None, True),
    PageSpec("rankings", "pages/public_rankings.py", "效能排名与网上测评", ":material/military_tech:",
             None, True),
    PageSpec("villages", "pages/public_villages.py", "村务公开", ":material/holiday_village:", None,
             True),
    PageSpec("govinfo", "pages/public_govinfo.py", "信息公开申请", ":material/description:", None,
             True),
    PageSpec("public_funds", "pages/public_funds.py", "惠民资金公开", ":material/volunteer_activism:",
             None, True),
    PageSpec("forum", "pages/public_forum.py", "互动论坛", ":material/chat:", None, True),
    PageSpec("polls", "pages/public_polls.py", "投票评价", ":material/how_to_vote:", None, True),
]
PAGE_BY_KEY = {p.key: p for p in PAGES}


class PermissionDenied(Exception):
    """The user may not do this; the message says why, in Chinese."""


@dataclass(frozen=True)
class CurrentUser:
    id: int | None
    username: str
    display_name: str
    roles: frozenset[str]
    unit_id: int | None = None
    unit_name: str | None = None
    is_system: bool = field(default=False, compare=False)

    @property
    def role_names(self) -> str:
        return "、".join(ROLES[r] for r in sorted(self.roles) if r in ROLES)


# The command line and scheduled jobs act as the system, with every right.
SYSTEM = CurrentUser(id=None, username="system", display_name="系统", roles=frozenset(),
                     is_system=True)


def parse_roles(text: str) -> frozenset[str]:
    return frozenset(r for r in (x.strip() for x in (text or "").split(",")) if r in ROLES)


def can(user: CurrentUser, action: str) -> bool:
    if action not in ACTIONS:
        raise ValueError(f"unknown action {action}")
    return user.is_system or any(action in MATRIX.get(r, ()) for r in user.roles)


def require(user: CurrentUser, action: str) -> None:
    if not can(user, action):
        raise PermissionDenied(f"无权限：{ACTIONS[action]}（当前角色：{user.role_names or '无'}）")


def can_open(user: CurrentUser, page_key: str) -> bool:
    spec = PAGE_BY_KEY[page_key]
    return spec.public or spec.action is None or can(user, spec.action)


def visible_pages(user: CurrentUser) -> list[PageSpec]:
    """The staff pages this user may open (the public portal is listed separately)."""
    return [p for p in PAGES if not p.public and can_open(user, p.key)]


def public_pages() -> list[PageSpec]:
    return [p for p in PAGES if p.public]


def unit_scope(user: CurrentUser) -> int | None:
    """None: all units. Otherwise the only unit whose items the user may read."""
    if can(user, "view_all_units"):
        return None
    if user.unit_id is None:
        raise PermissionDenied("账号未绑定单位，无法查看事项，请联系系统管理员")
    return user.unit_id


def scoped_unit(user: CurrentUser, requested: int | None) -> int | None:
    """The unit filter a query must apply: the user's own unit for staff (asking for another
    unit is refused), the requested one (or none) for everyone else."""
    scope = unit_scope(user)
    if scope is None:
        return requested
    if requested is not None and requested != scope:
        raise PermissionDenied("无权查看其他单位的数据")
    return scope


def check_unit(user: CurrentUser, unit_id: int) -> None:
    """Raise unless the user may read this unit's records."""
    scoped_unit(user, unit_id)


def mask_name(name: str | None) -> str:
    """陈伟强 → 陈**: what a user without `view_staff_names` sees."""
    if not name:
        return ""
    return name[0] + "*" * (len(name) - 1)


_ACCOUNT = re.compile(r"[a-z][a-z0-9_.-]*")


def actor_for(user: CurrentUser, actor: str | None) -> str:
    """Who did something, as this user may see it: an account's username (zhou_qiang) is a
    person, masked (z*********) for users who may not see staff names; the system's own
    actors (系统（自动督办）, 群众, 演示数据) are not people, and one's own username is one's own:
    they stay as they are; the system's account (system) is named in Chinese (系统)."""
    if actor == SYSTEM.username:
        return SYSTEM.display_name
    if (not actor or can(user, "view_staff_names") or not _ACCOUNT.fullmatch(actor)
            or actor == user.username):
        return actor or ""
    return mask_name(actor)


def matrix_frame() -> pd.DataFrame:
    """The permission matrix as a table (rows: actions, columns: roles, ✓ or blank)."""
    rows = []
    for action, label in ACTIONS.items():
        row = {"权限": label}
        for role, role_name in ROLES.items():
            row[role_name] = "✓" if action in MATRIX[role] else ""
        rows.append(row)
    return pd.DataFrame(rows)
