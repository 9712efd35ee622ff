"""Load through the real server: many browsers at once, while the sweep runs.

Starts the app on a demo database (SQLite: one Streamlit process; PostgreSQL: two processes on
one database, each browser kept on one of them as nginx's sticky sessions would), runs the
supervision sweep beside it as cron would (`python -m lib sweep` every 15 s; the app's own
thread stays on too, so three sweepers race), and drives concurrent Playwright contexts on
Debian's Chromium that sign in as different roles, open pages and submit forms:

- the public (no account): submits reports through 我要反映;
- leaders, inspectors, reviewers, administrators: open the cockpit, lists and centres;
- unit staff (one account per unit, made for the run): sign for and answer a work order;
- project staff (one account per unit with a key project): report a node's progress.

Then prints: sessions, page runs, p50/p95 page time, errors seen (error boxes, tracebacks in the
servers' output, timeouts), submissions written vs sent, replies and progress reports written
vs sent, duplicate notices, and whether the audit chain verifies.

    python -m bench.load [--backend sqlite|postgresql|both] [--sessions 30] [--items 5000]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import sqlalchemy as sa

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run",
                 "--disable-dev-shm-usage"]
PG_ADMIN_URL = os.environ.get(
    "TEST_PG_ADMIN_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
PASSWORDS = {"admin": "Guanli@2026", "leader": "Lingdao@2026", "inspector": "Jiancha@2026",
             "reviewer": "Shencha@2026"}
LOAD_PASSWORD = "Yali#2026load"
TIMEOUT = 600_000  # ms: a page run on a crowded two-core machine can take long; never an error


# ---------------------------------------------------------------------------------------------
# The database and the servers


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def new_database(backend: str, workdir: Path) -> str:
    if backend == "sqlite":
        return f"sqlite:///{workdir / 'load.db'}"
    name = f"esup_load_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        c.execute(sa.text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"


def drop_database(url: str) -> None:
    if not url.startswith("postgresql"):
        return
    from lib import db

    for engine in list(db._engines.values()):
        engine.dispose()
    db._engines.clear()
    admin = sa.create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        c.execute(sa.text(f'DROP DATABASE IF EXISTS "{url.rsplit("/", 1)[1]}" WITH (FORCE)'))
    admin.dispose()


def cli(url: str, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    env = dict(os.environ, DATABASE_URL=url)
    proc = subprocess.run([sys.executable, "-m", "lib", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True)
    if check and proc.returncode != 0:
        raise RuntimeError(f"python -m lib {' '.join(args)} failed:\n{proc.stderr}")
    return proc


@dataclass
class Plan:
    """Accounts made for the run, and what each staff session will do."""

    tag: str
    reply_staff: list[str] = field(default_factory=list)  # usernames, one unit each
    progress_staff: list[tuple[str, str, str]] = field(default_factory=list)  # user, project, node


def prepare(url: str, *, items: int, replies: int, progress: int, tag: str) -> Plan:
    """Demo data, then one staff account per unit for the work-order and progress sessions."""
    cli(url, "init")
    cli(url, "demo", "--items", str(items))
    from lib import auth, db, projects, submissions
    from lib.access import SYSTEM, CurrentUser
    from lib.clock import now_utc
    from lib.models import KeyProject, Submission, Unit

    engine = db.get_engine(url)
    plan = Plan(tag)
    now = now_utc()

    def make(s):
        units = s.execute(sa.select(Unit.id, Unit.code).where(Unit.code != "ZJ.JW")
                          .order_by(Unit.code)).all()
        # Work orders: units that already have open ones, then any unit (given a fresh one).
        with_orders = set(s.scalars(sa.select(Submission.unit_id).where(
            Submission.status.in_(("dispatched", "acknowledged", "rework")))))
        ordered = [u for u in units if u.id in with_orders] + \
                  [u for u in units if u.id not in with_orders]
        for n, (unit_id, _code) in enumerate(ordered[:replies]):
            name = f"load_staff{n:02d}"
            auth.create_user(s, SYSTEM, username=name, display_name=f"压测经办{n}",
                             roles={"staff"}, unit_id=unit_id, password=LOAD_PASSWORD)
            if unit_id not in with_orders:
                submissions.submit(s, submissions.NewSubmission(
                    kind="complaint", region_id=None, unit_id=unit_id,
                    subject=f"压测工单 {tag} {n}", body="压测：待答复的工单。"))
            plan.reply_staff.append(name)
        # Progress: per unit with a key project, a node open and started, not yet at 100 %.
        taken = 0
        for unit_id in s.scalars(sa.select(KeyProject.unit_id).distinct().order_by(KeyProject.unit_id)):
            if taken >= progress:
                break
            staff = CurrentUser(None, "load", "压测", frozenset({"staff"}), unit_id=unit_id)
            found = None
            for p in projects.projects(s, staff, now):
                if p["completed"]:
                    continue
                for node in projects.nodes(s, staff, p["id"], now):
                    if (node["completed_at"] is None and node["percent_done"] <= 80
                            and node["planned_start"] <= now.date()):
                        found = (p["code"], f"{node['seq']}. {node['node']}")
                        break
                if found:
                    break
            if not found:
                continue
            name = f"load_proj{taken:02d}"
            auth.create_user(s, SYSTEM, username=name, display_name=f"压测项目{taken}",
                             roles={"staff"}, unit_id=unit_id, password=LOAD_PASSWORD)
            plan.progress_staff.append((name, *found))
            taken += 1

    db.transact(make, engine)
    engine.dispose()
    return plan


class Server:
    """One `streamlit run Home.py` process; its output goes to a log file."""

    def __init__(self, url: str, workdir: Path, n: int, sweeper: bool = True):
        self.port = free_port()
        self.log_path = workdir / f"server{n}.log"
        self.log = open(self.log_path, "w+")
        env = dict(os.environ, DATABASE_URL=url, ESUP_SWEEPER="1" if sweeper else "0")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "streamlit", "run", "Home.py", "--server.port", str(self.port),
             "--server.headless", "true", "--server.fileWatcherType", "none",
             "--browser.gatherUsageStats", "false"],
            cwd=ROOT, env=env, stdout=self.log, stderr=subprocess.STDOUT)
        self.base = f"http://127.0.0.1:{self.port}"

    def wait(self, timeout: float = 180) -> None:
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                break
            try:
                with urllib.request.urlopen(self.base + "/_stcore/health", timeout=2) as r:
                    if r.status == 200:
                        return
            except OSError:
                time.sleep(0.5)
        raise RuntimeError(f"Streamlit did not start:\n{self.output()}")

    def output(self) -> str:
        self.log.flush()
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.log.close()


class CronSweep(threading.Thread):
    """`python -m lib sweep` every `every` seconds, as a cron job would run it."""

    def __init__(self, url: str, every: float = 15.0):
        super().__init__(daemon=True)
        self.url, self.every = url, every
        self.stop_event = threading.Event()
        self.runs = 0
        self.failures: list[str] = []

    def run(self) -> None:
        while not self.stop_event.is_set():
            proc = cli(self.url, "sweep", check=False)
            self.runs += 1
            if proc.returncode != 0:
                self.failures.append(proc.stderr[-2000:])
            self.stop_event.wait(self.every)

    def stop(self) -> None:
        self.stop_event.set()
        self.join(600)


# ---------------------------------------------------------------------------------------------
# The browsers


@dataclass
class Tally:
    page_times: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    submissions_sent: int = 0
    replies_sent: int = 0
    progress_sent: int = 0
    sessions_done: int = 0


ERROR_BOXES = '[data-testid="stException"], [data-testid="stAlertContentError"]'


async def idle(pg) -> None:
    """The script run has finished (Streamlit's status widget is gone)."""
    await pg.wait_for_timeout(300)
    await pg.wait_for_function(
        "() => !document.querySelector('[data-testid=\"stStatusWidget\"]')", timeout=TIMEOUT)


async def timed(tally: Tally, who: str, what: str, pg, action, ready) -> bool:
    """One page run: do `action`, wait until `ready` and the run is over; time it and look for
    error boxes. False (and an error counted) when it failed."""
    started = time.perf_counter()
    try:
        await action()
        await ready()
        await idle(pg)
    except Exception as exc:  # noqa: BLE001 - every failure is counted and reported
        tally.errors.append(f"{who}: {what}: {type(exc).__name__}: {str(exc).splitlines()[0][:200]}")
        return False
    tally.page_times.append(time.perf_counter() - started)
    boxes = pg.locator(ERROR_BOXES)
    if await boxes.count():
        tally.errors.append(f"{who}: {what}: {(await boxes.first.inner_text())[:300]}")
        return False
    return True


async def sign_in(tally: Tally, who: str, pg, base: str, username: str, password: str) -> bool:
    async def open_page():
        await pg.goto(base + "/", timeout=TIMEOUT)

    ok = await timed(tally, who, "打开登录页", pg, open_page,
                     lambda: pg.get_by_label("用户名", exact=True).first.wait_for(timeout=TIMEOUT))
    if not ok:
        return False

    async def submit():
        await pg.get_by_label("用户名", exact=True).first.fill(username)
        await pg.get_by_label("密码", exact=True).first.fill(password)
        await pg.get_by_role("button", name="登录").click()

    async def signed_in():
        await resubmit_if_lost(pg, submit, pg.get_by_role("button", name="退出登录"),
                               pg.get_by_label("用户名", exact=True))

    ok = await timed(tally, who, "登录", pg, submit, signed_in)
    if not ok:
        return False
    # The login cookie is written by a component after the run: on a crowded machine that
    # takes as long as a page run can.
    deadline = time.perf_counter() + TIMEOUT / 1000
    while time.perf_counter() < deadline:
        if "esup_auth" in [c["name"] for c in await pg.context.cookies()]:
            return True
        await pg.wait_for_timeout(250)
    tally.errors.append(f"{who}: 登录 Cookie 未写入")
    return False


async def resubmit_if_lost(pg, submit, done, field) -> None:
    """Wait for `done`. A click that lands while a page run is still settling can be lost: the
    form is drawn again, empty. Only then (no run going on, nothing was sent) fill and submit
    again; a slow answer to a click that arrived is simply waited for, and an error box beside
    a filled form ends the wait with its text."""
    deadline = time.perf_counter() + TIMEOUT / 1000
    while time.perf_counter() < deadline:
        try:
            await done.first.wait_for(timeout=30_000)
            return
        except Exception:  # noqa: BLE001 - not yet: look whether the click was lost
            if await pg.locator('[data-testid="stStatusWidget"]').count():
                continue  # a run is going on: its answer is still to come
            try:  # the field may be redrawn or gone meanwhile: then look again later
                present = await field.count()
                empty = present and not await field.first.input_value(timeout=5000)
            except Exception:  # noqa: BLE001
                present = empty = False
            if not present or await done.count():
                continue
            boxes = pg.locator(ERROR_BOXES)
            if empty:
                # Drawn again empty: the click went out with empty fields (the page may say so,
                # "请输入…") or not at all; nothing was sent, so send it again.
                await submit()
            elif await boxes.count():  # refused, with the reason on the page
                raise RuntimeError((await boxes.first.inner_text())[:300]) from None
            # Still filled, no answer yet: a click the server has not reached yet is waited
            # for, never sent twice (a 30-browser run wrote 22 submissions for 20 confirmed
            # when a filled form was sent again).
    raise TimeoutError(f"{TIMEOUT / 1000:.0f} 秒内未见结果；页面内容：" +
                       (await pg.locator("body").inner_text())[:300].replace("\n", " "))


async def visit(tally: Tally, who: str, pg, url: str, heading: str) -> bool:
    async def go():
        await pg.goto(url, timeout=TIMEOUT)

    return await timed(tally, who, f"打开 {url.split('/', 3)[-1] or '/'}", pg, go,
                       lambda: pg.get_by_role("heading", name=heading).first.wait_for(timeout=TIMEOUT))


async def public_session(tally, who, pg, base, tag, rounds):
    for r in range(rounds):
        if not await visit(tally, who, pg, base + "/public_submit", "我要反映"):
            return

        subject = f"压测 {tag} {who} 第{r + 1}件：路灯不亮"

        async def submit(subject=subject):
            await pg.get_by_label("标题").fill(subject)
            await pg.get_by_label("具体内容").fill("小区门口路灯坏了一个月，晚上出行不安全。（压测）")
            await pg.get_by_role("button", name="提交").click()

        async def confirmed(subject=subject):
            await resubmit_if_lost(pg, submit, pg.get_by_text("提交成功"), pg.get_by_label("标题"))

        if await timed(tally, who, "提交诉求", pg, submit, confirmed):
            tally.submissions_sent += 1
        else:
            return
    await visit(tally, who, pg, base + "/public_board", "答复公开")
    tally.sessions_done += 1


VIEWER_PAGES = {
    "leader": [("/", "电子监察综合平台"), ("/items?light=red&state=open", "监察事项"),
               ("/efficiency", "行政效能"), ("/key_work", "重点工作与重点项目")],
    "inspector": [("/supervision", "督办中心"), ("/dispatch", "诉求分派与审核"),
                  ("/items?light=red&state=open", "监察事项"), ("/audit", "审计日志")],
    "reviewer": [("/", "电子监察综合平台"), ("/complaints", "网络投诉"), ("/supervision", "督办中心"),
                 ("/items", "监察事项")],
    "admin": [("/admin_settings", "系统设置"), ("/admin_users", "用户与单位"), ("/", "电子监察综合平台"),
              ("/audit", "审计日志")],
}


async def viewer_session(tally, who, pg, base, role):
    if not await sign_in(tally, who, pg, base, role, PASSWORDS[role]):
        return
    for path, heading in VIEWER_PAGES[role]:
        if not await visit(tally, who, pg, base + path, heading):
            return
    tally.sessions_done += 1


async def reply_session(tally, who, pg, base, username):
    if not await sign_in(tally, who, pg, base, username, LOAD_PASSWORD):
        return
    if not await visit(tally, who, pg, base + "/inbox", "本单位工单"):
        return
    sign = pg.get_by_role("button", name="签收", exact=True)
    if await sign.count():
        if not await timed(tally, who, "签收工单", pg, sign.click,
                           lambda: pg.get_by_text("已签收").first.wait_for(timeout=TIMEOUT)):
            return

    async def answer():
        await pg.get_by_label("答复内容").fill("经核查，已安排维修，三日内修复。（压测答复）")
        await pg.get_by_role("button", name="提交答复").click()

    async def answered():
        await resubmit_if_lost(pg, answer, pg.get_by_text("待审核"), pg.get_by_label("答复内容"))

    if await timed(tally, who, "提交答复", pg, answer, answered):
        tally.replies_sent += 1
    else:
        return
    if await visit(tally, who, pg, base + "/unit_notices", "督办通知"):
        tally.sessions_done += 1


async def pick(pg, label: str, text: str) -> None:
    """Choose `text` in a Streamlit selectbox by typing it."""
    box = pg.get_by_label(label)
    await box.click()
    await box.fill(text)
    await pg.get_by_role("option", name=text).first.click()


async def progress_session(tally, who, pg, base, username, project, node):
    if not await sign_in(tally, who, pg, base, username, LOAD_PASSWORD):
        return
    if not await visit(tally, who, pg, base + "/key_work", "重点工作与重点项目"):
        return
    await pg.get_by_role("tab", name="重点项目").click()
    if not await timed(tally, who, "选择项目", pg, lambda: pick_prefix(pg, "查看项目", project),
                       lambda: pg.get_by_label("节点记录").wait_for(timeout=TIMEOUT)):
        return
    if not await timed(tally, who, "选择节点", pg, lambda: pick(pg, "节点记录", node),
                       lambda: pg.get_by_role("slider").first.wait_for(timeout=TIMEOUT)):
        return

    async def report():
        slider = pg.get_by_role("slider").first
        await slider.focus()
        await slider.press("ArrowRight")
        await pg.wait_for_timeout(300)
        await pg.get_by_role("button", name="提交", exact=True).click()

    if await timed(tally, who, "报告进度", pg, report,
                   lambda: pg.get_by_text("已提交：").first.wait_for(timeout=TIMEOUT)):
        tally.progress_sent += 1
        tally.sessions_done += 1


async def pick_prefix(pg, label: str, prefix: str) -> None:
    """Choose the option of a selectbox that starts with `prefix` (a code before its name)."""
    box = pg.get_by_label(label)
    await box.click()
    await box.fill(prefix)
    await pg.get_by_role("option").filter(has_text=re.compile("^" + re.escape(prefix))).first.click()


async def drive(bases: list[str], plan: Plan, *, public: int, viewers: int, rounds: int,
                tally: Tally) -> int:
    from playwright.async_api import async_playwright

    jobs = []
    n = 0

    def base_for() -> str:  # sticky: a browser stays on one process for its whole visit
        return bases[n % len(bases)]

    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        contexts = []

        async def run(coro_fn, *args, visitor: int):
            # Each browser a visitor of its own, as the proxy of docs/deploy.md reports them
            # (X-Real-IP): the portal's rate limit counts per visitor, never all of them at once.
            ctx = await browser.new_context(
                viewport={"width": 1400, "height": 1800}, locale="zh-CN",
                extra_http_headers={"X-Real-IP": f"10.8.{visitor // 250}.{visitor % 250 + 1}"})
            contexts.append(ctx)
            pg = await ctx.new_page()
            pg.set_default_timeout(TIMEOUT)
            try:
                await coro_fn(tally, *args[:1], pg, *args[1:])
            finally:
                await ctx.close()

        for i in range(public):
            jobs.append(run(public_session, f"群众{i + 1}", base_for(), plan.tag, rounds, visitor=n))
            n += 1
        roles = list(VIEWER_PAGES)
        for i in range(viewers):
            role = roles[i % len(roles)]
            jobs.append(run(viewer_session, f"{role}{i + 1}", base_for(), role, visitor=n))
            n += 1
        for username in plan.reply_staff:
            jobs.append(run(reply_session, username, base_for(), username, visitor=n))
            n += 1
        for username, project, node in plan.progress_staff:
            jobs.append(run(progress_session, username, base_for(), username, project, node,
                             visitor=n))
            n += 1
        await asyncio.gather(*jobs)
        await browser.close()
    return n


# ---------------------------------------------------------------------------------------------
# The checks


def check_database(url: str, plan: Plan, tally: Tally) -> dict:
    from lib import audit, db, notices
    from lib.models import AuditLog, Notice, NoticeEvent, Submission

    engine = db.make_engine(url)
    try:
        with db.read_scope(engine) as s:
            written = s.scalar(sa.select(sa.func.count()).select_from(Submission)
                               .where(Submission.subject.like(f"压测 {plan.tag} %")))
            staff = plan.reply_staff
            replies = s.scalar(sa.select(sa.func.count()).select_from(AuditLog).where(
                AuditLog.action == "submission.reply", AuditLog.actor.in_(staff or [""])))
            reporters = [u for u, _, _ in plan.progress_staff]
            progress = s.scalar(sa.select(sa.func.count()).select_from(AuditLog).where(
                AuditLog.action == "node.update", AuditLog.actor.in_(reporters or [""])))
            dup_notices = s.scalar(sa.select(sa.func.count()).select_from(
                sa.select(Notice.item_id, Notice.crossing).group_by(Notice.item_id, Notice.crossing)
                .having(sa.func.count() > 1).subquery()))
            dup_issue_events = s.scalar(sa.select(sa.func.count()).select_from(
                sa.select(NoticeEvent.notice_id).where(NoticeEvent.action == "issued")
                .group_by(NoticeEvent.notice_id).having(sa.func.count() > 1).subquery()))
            issued = s.scalar(sa.select(sa.func.count()).select_from(Notice))
            # Lost: an item red when the sweep last ran, still without its notice.
            last = notices.last_swept(s)
            missing = len(notices.overdue_without_notice(s, last)) if last else -1
            chain = audit.verify(s)
    finally:
        engine.dispose()
    return {"submissions_written": written, "replies_written": replies,
            "progress_written": progress, "duplicate_notices": dup_notices + dup_issue_events,
            "notices": issued, "missing_notices": missing, "audit_ok": chain.ok, "audit_rows": chain.rows,
            "audit_message": chain.message}


TRACEBACK = re.compile(r"^Traceback|^\S*Error: |\bERROR\b", re.M)


def run_load(backend: str, *, sessions: int = 30, items: int = 5000, rounds: int = 2,
             processes: int | None = None, sweep_every: float = 15.0,
             workdir: Path | None = None, keep: bool = False) -> dict:
    """One load run; returns the figures (and prints nothing)."""
    processes = processes or (1 if backend == "sqlite" else 2)
    own_dir = workdir is None
    workdir = Path(workdir or tempfile.mkdtemp(prefix="esup-load-"))
    tag = uuid.uuid4().hex[:6]
    # The mix: a third public, a quarter viewers, the rest staff (answers and progress).
    public = max(1, round(sessions * 0.34))
    viewers = max(1, round(sessions * 0.26))
    progress = max(1, round(sessions * 0.13))
    replies = max(1, sessions - public - viewers - progress)
    url = new_database(backend, workdir)
    servers: list[Server] = []
    sweep = None
    try:
        t0 = time.perf_counter()
        plan = prepare(url, items=items, replies=replies, progress=progress, tag=tag)
        viewers += (replies - len(plan.reply_staff)) + (progress - len(plan.progress_staff))
        prepared = time.perf_counter() - t0
        servers = [Server(url, workdir, i) for i in range(processes)]
        for s in servers:
            s.wait()
        sweep = CronSweep(url, sweep_every)
        sweep.start()
        tally = Tally()
        started = time.perf_counter()
        n = asyncio.run(drive([s.base for s in servers], plan, public=public, viewers=viewers,
                              rounds=rounds, tally=tally))
        wall = time.perf_counter() - started
        sweep.stop()
        for i, s in enumerate(servers):
            for m in TRACEBACK.finditer(s.output()):
                line = s.output()[m.start():].splitlines()[0]
                tally.errors.append(f"服务进程 {i + 1} 的输出：{line[:200]}")
        tally.errors += [f"cron 督办扫描失败：{f.strip().splitlines()[-1]}" for f in sweep.failures]
        figures = check_database(url, plan, tally)
        times = sorted(tally.page_times)
        result = {
            "backend": backend, "app_processes": processes, "items": items,
            "sessions": n, "sessions_completed": tally.sessions_done,
            "page_runs": len(times),
            "p50_s": round(statistics.median(times), 2) if times else None,
            "p95_s": round(times[max(0, int(len(times) * 0.95) - 1)], 2) if times else None,
            "max_s": round(times[-1], 2) if times else None,
            "wall_s": round(wall, 1), "prepare_s": round(prepared, 1),
            "errors": len(tally.errors), "error_list": tally.errors[:50],
            "submissions_sent": tally.submissions_sent, "replies_sent": tally.replies_sent,
            "progress_sent": tally.progress_sent, "cron_sweeps": sweep.runs, **figures,
        }
        return result
    finally:
        if sweep is not None and sweep.is_alive():
            sweep.stop()
        for s in servers:
            s.stop()
        if not keep:
            drop_database(url)
            if own_dir:
                import shutil

                shutil.rmtree(workdir, ignore_errors=True)


def report(r: dict) -> str:
    ok = (r["errors"] == 0 and r["submissions_written"] == r["submissions_sent"]
          and r["replies_written"] == r["replies_sent"]
          and r["progress_written"] == r["progress_sent"]
          and r["duplicate_notices"] == 0 and r["missing_notices"] == 0 and r["audit_ok"])
    lines = [
        f"== {r['backend']}，{r['app_processes']} 个应用进程，{r['items']:,} 个普通事项 ==",
        f"sessions            {r['sessions']}（完成 {r['sessions_completed']}）",
        f"page runs           {r['page_runs']}",
        f"page time p50/p95   {r['p50_s']} s / {r['p95_s']} s（最长 {r['max_s']} s）",
        f"wall time           {r['wall_s']} s（准备数据 {r['prepare_s']} s）",
        f"errors seen         {r['errors']}",
        f"submissions         sent {r['submissions_sent']}, written {r['submissions_written']}",
        f"work-order replies  sent {r['replies_sent']}, written {r['replies_written']}",
        f"progress reports    sent {r['progress_sent']}, written {r['progress_written']}",
        f"sweeps              cron {r['cron_sweeps']} runs beside the app's own; "
        f"notices {r['notices']:,}, duplicates {r['duplicate_notices']}, "
        f"red items without their notice at the last sweep {r['missing_notices']}",
        f"audit chain         {'intact' if r['audit_ok'] else 'BROKEN'}（{r['audit_message']}）",
        f"result              {'PASS' if ok else 'FAIL'}",
    ]
    lines += [f"  error: {e}" for e in r["error_list"]]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.load", description=__doc__.split("\n")[0])
    ap.add_argument("--backend", choices=["sqlite", "postgresql", "both"], default="both")
    ap.add_argument("--sessions", type=int, default=30)
    ap.add_argument("--items", type=int, default=5000, help="ordinary demo items (besides the domains')")
    ap.add_argument("--rounds", type=int, default=2, help="submissions per public session")
    ap.add_argument("--sweep-every", type=float, default=15.0)
    args = ap.parse_args(argv)
    backends = ["sqlite", "postgresql"] if args.backend == "both" else [args.backend]
    RESULTS.mkdir(parents=True, exist_ok=True)
    failed = False
    for backend in backends:
        r = run_load(backend, sessions=args.sessions, items=args.items, rounds=args.rounds,
                     sweep_every=args.sweep_every)
        print(report(r), flush=True)
        (RESULTS / f"load-{backend}.json").write_text(json.dumps(r, ensure_ascii=False, indent=1),
                                                      encoding="utf-8")
        failed |= "FAIL" in report(r)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
