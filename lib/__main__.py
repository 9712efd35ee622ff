"""Command line: `python -m lib COMMAND` (see `python -m lib --help`)."""

from __future__ import annotations

import argparse
import csv
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import MetaData, select, text

from lib import audit, catalog, db, demo, queries, rollups
from lib.access import SYSTEM
from lib.clock import now_utc
from lib.config import TZ
from lib.importer import ImportFailed, parse_time
from lib.lights import fmt_time
from lib.models import AuditLog


def _reset(engine) -> None:
    """Drop every table (including Alembic's version table)."""
    if engine.dialect.name == "postgresql":
        with engine.begin() as conn:
            conn.execute(text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))
        return
    meta = MetaData()
    meta.reflect(engine)
    with engine.connect() as conn:
        raw = conn.connection.driver_connection  # the pragma works only outside a transaction
        raw.execute("PRAGMA foreign_keys=OFF")
        with conn.begin():
            for table in reversed(meta.sorted_tables):
                conn.exec_driver_sql(f'DROP TABLE IF EXISTS "{table.name}"')
        raw.execute("PRAGMA foreign_keys=ON")


def cmd_init(args) -> int:
    engine = db.get_engine()
    if args.reset:
        _reset(engine)
    db.migrate(engine)
    with db.session_scope(engine) as s:
        catalog.seed_catalog(s)
        loaded = demo.is_loaded(s)
    print(f"数据库已就绪（版本 {db.current_revision(engine)}）：{engine.url.render_as_string()}")
    if args.demo_if_empty and not loaded:
        return cmd_demo(argparse.Namespace(scale=1.0, seed=2026, items=None, reset=False))
    return 0


def cmd_demo(args) -> int:
    engine = db.get_engine()
    if args.reset:
        _reset(engine)
    db.migrate(engine)
    started = time.perf_counter()

    def progress(done: int, total: int) -> None:
        print(f"  生成事项 {done:,}/{total:,}", file=sys.stderr, flush=True)

    try:
        with db.session_scope(engine) as s:
            result = demo.load_demo(s, seed=args.seed, scale=args.scale,
                                    ordinary_items=args.items, progress=progress)
    except ValueError as exc:
        print(f"错误：{exc}", file=sys.stderr)
        return 2
    print(f"演示数据已载入：{result['items']:,} 个监察事项，基准时间 {fmt_time(result['anchor'])}，"
          f"用时 {time.perf_counter() - started:.1f} 秒")
    return 0


def cmd_catalog(args) -> int:
    with db.read_scope() as s:
        rows = catalog.catalog_rows(s)
    w = csv.DictWriter(sys.stdout, fieldnames=["kind", "code", "name", "parent"], lineterminator="\n")
    w.writeheader()
    w.writerows(rows)
    return 0


def cmd_import(args) -> int:
    from lib import exchange

    try:
        raw = Path(args.file).read_bytes()
    except OSError as exc:
        print(f"导入失败，未写入任何数据：\n无法读取文件：{args.file}（{exc.strerror}）", file=sys.stderr)
        return 2
    try:
        result = exchange.run_import(args.what, raw, filename=args.file, actor=args.actor)
    except ImportFailed as exc:
        print(str(exc), file=sys.stderr)
        return 2
    print(f"导入完成：共 {result.rows} 行，新增 {result.created}，更新 {result.updated}，"
          f"未变 {result.unchanged}")
    if result.secrets:
        print("新账号的一次性激活码（仅此一次显示，请分别交给本人；本人在登录页“首次登录”处设置密码）：")
        for label, value in result.secrets:
            print(f"{label}\t{value}")
    for warning in result.warnings:
        print(f"提示：{warning}", file=sys.stderr)
    return 0


def cmd_lights(args) -> int:
    try:
        as_of = parse_time(args.as_of) if args.as_of else now_utc()
    except ValueError:
        print(f"错误：--as-of 时间无效：“{args.as_of}”（示例：2026-11-01T12:00）", file=sys.stderr)
        return 2
    with db.read_scope() as s:
        rows = queries.item_lights(s, user=SYSTEM, as_of=as_of)
    w = csv.writer(sys.stdout, lineterminator="\n")
    w.writerow(["external_id", "deadline", "light"])
    for ext, deadline, light in rows:
        w.writerow([ext, deadline.astimezone(TZ).isoformat()
                    if deadline else "", light])
    return 0


def cmd_audit_verify(args) -> int:
    with db.read_scope() as s:
        result = audit.verify(s)
        head = s.scalar(select(AuditLog.hash).order_by(AuditLog.id.desc()).limit(1))
    if result.ok:
        print(result.message)
        if head:
            print(f"链头哈希（可另行存档，用于发现末尾记录被删除）：{head}")
        return 0
    print(f"审计链断裂：{result.message}", file=sys.stderr)
    return 1


def cmd_export_open311(args) -> int:
    import json

    from lib import submissions

    with db.read_scope() as s:
        requests = submissions.open311(s)
    json.dump(requests, sys.stdout, ensure_ascii=False, indent=1)
    sys.stdout.write("\n")
    return 0


def cmd_export_kind(args) -> int:
    from lib import exchange

    with db.read_scope() as s:
        header, rows = exchange.export_table(s, args.what)
    if args.format == "xlsx":
        if not args.output:
            print("错误：xlsx 格式请用 --output 指定文件", file=sys.stderr)
            return 2
        with open(args.output, "wb") as f:
            f.write(exchange.xlsx_bytes(header, rows))
    elif args.output:
        with open(args.output, "w", encoding="utf-8-sig", newline="") as f:
            exchange.write_csv(header, rows, f)
    else:
        exchange.write_csv(header, rows, sys.stdout)
    if args.output:
        print(f"已导出 {len(rows):,} 行到 {args.output}", file=sys.stderr)
    return 0


def cmd_sync(args) -> int:
    from lib import sync
    from lib.exchange import ImportFailed as Refused

    if args.list:
        with db.read_scope() as s:
            w = csv.writer(sys.stdout, lineterminator="\n")
            w.writerow(["name", "kind", "table", "watermark_column", "watermark", "active",
                        "last_run_at", "last_status"])
            for src in sync.sources(s):
                w.writerow([src.name, src.kind, src.table, src.watermark_column,
                            src.watermark or "", int(src.active), fmt_time(src.last_run_at),
                            src.last_status or ""])
        return 0
    with db.read_scope() as s:
        names = [x.name for x in sync.sources(s) if x.active] if args.all else [args.name]
    if not names or names == [None]:
        print("错误：请给出同步源名称，或用 --all / --list", file=sys.stderr)
        return 2
    code = 0
    for name in names:
        started = time.perf_counter()
        try:
            result = sync.sync(name, max_batches=args.max_batches)
        except (sync.SyncError, Refused) as exc:
            print(f"同步源 {name} 失败（水位未动，可修正后重跑）：{exc}", file=sys.stderr)
            code = 1
            continue
        print(f"同步源 {name}：{result}；用时 {time.perf_counter() - started:.1f} 秒")
    return code


def cmd_backup(args) -> int:
    from lib import backup

    engine = db.get_engine()
    started = time.perf_counter()
    try:
        done = backup.backup(engine, args.file)
    except backup.BackupError as exc:
        print(f"备份失败：{exc}", file=sys.stderr)
        return 1
    print(f"已备份 {engine.url.render_as_string()} 到 {done.summary()}，"
          f"用时 {time.perf_counter() - started:.1f} 秒")
    return 0


def cmd_restore(args) -> int:
    from lib import backup

    engine = db.get_engine()
    started = time.perf_counter()
    try:
        done = backup.restore(engine, args.file, force=args.force)
    except backup.BackupError as exc:
        print(f"未恢复：{exc}", file=sys.stderr)
        return 2
    print(f"已从 {done.summary()} 恢复到 {engine.url.render_as_string()}，"
          f"用时 {time.perf_counter() - started:.1f} 秒")
    if db.needs_migration(engine):
        print(f"提示：备份的数据库版本为 {db.current_revision(engine)}，程序版本为 {db.head_revision()}；"
              "请运行 python -m lib init 迁移（应用启动时也会自动迁移）")
    print("建议运行 python -m lib audit verify 校验审计链")
    return 0


def cmd_health(args) -> int:
    import json
    from datetime import timedelta

    from lib import health

    report = health.check(sweep_max_age=timedelta(minutes=args.sweep_max_age),
                          verify_chain=not args.no_verify)
    if args.format == "json":
        json.dump(report.as_dict(), sys.stdout, ensure_ascii=False, indent=1)
        sys.stdout.write("\n")
    else:
        for line in report.lines():
            print(line)
    return 0 if report.ok else 1


def cmd_sweep(args) -> int:
    from lib import flags, notices

    started = time.perf_counter()
    # The rules first, so that a red line found now gets its notice in the same run.
    from lib import domains

    def run(s):
        now = now_utc()
        domains.run_due(s, now)
        out = flags.refresh(s, now=now), notices.sweep(s, now)
        notices.mark_swept(s, now)
        return out

    refreshed, result = db.transact(run)
    kept = db.transact(lambda s: rollups.maintain(s))
    print(f"规则复核：{refreshed}")
    print(f"督办扫描完成：新发督办通知 {result.issued} 份，提级督办 {result.escalated} 份，"
          f"汇总表更新 {kept.get('dirty', '全部重建')} 处，用时 {time.perf_counter() - started:.2f} 秒")
    return 0


def cmd_rollups(args) -> int:
    started = time.perf_counter()
    if args.what == "rebuild":
        built = db.transact(lambda s: rollups.rebuild(s))
        db.transact(rollups.rebuild_disclosure_months)  # its own transaction (see there)
        print(f"汇总表已重建：{built['cells']} 个单元格，逾期水位 "
              f"{fmt_time(datetime.fromtimestamp(built['overdue_until'], UTC))}，"
              f"用时 {time.perf_counter() - started:.1f} 秒")
        return 0
    with db.read_scope() as s:
        drift = rollups.verify(s)
    if drift:
        print(f"汇总表与基础表不一致（{len(drift)} 处）：", file=sys.stderr)
        for line in drift[:50]:
            print(f"  {line}", file=sys.stderr)
        return 1
    print(f"汇总表与基础表一致（逐格重算核对），用时 {time.perf_counter() - started:.1f} 秒")
    return 0


def cmd_flags(args) -> int:
    from lib import flags

    try:
        as_of = parse_time(args.as_of) if args.as_of else now_utc()
    except ValueError:
        print(f"错误：--as-of 时间无效：“{args.as_of}”（示例：2026-11-01T12:00）", file=sys.stderr)
        return 2
    domains = {r.domain for r in flags.load_rules().values()}
    if args.domain and args.domain not in domains:
        known = "、".join(sorted(domains)) or "（尚无）"
        print(f"错误：领域“{args.domain}”没有规则；有规则的领域：{known}", file=sys.stderr)
        return 2
    if args.refresh:
        result = db.transact(lambda s: flags.refresh(s, domain=args.domain))
        print(f"已按当前数据复核规则并更新红黄牌：{result}", file=sys.stderr)
    with db.read_scope() as s:
        ev = flags.evaluate(s, domain=args.domain, as_of=as_of)
    w = csv.writer(sys.stdout, lineterminator="\n")
    w.writerow(flags.CSV_COLUMNS)
    for r in ev.records:
        w.writerow([_cell(x) for x in r.csv_row()])
    for warning in ev.warnings():
        print(f"提示：{warning}", file=sys.stderr)
    return 0


def cmd_rules(args) -> int:
    from lib import flags

    w = csv.writer(sys.stdout, lineterminator="\n")
    w.writerow(["domain", "code", "name", "kind", "thresholds", "definition"])
    with db.read_scope() as s:
        for r in flags.rules_of(args.domain):
            t = flags.thresholds(s, r)
            w.writerow([r.domain, r.code, r.name, "timing" if r.timing else "verdict",
                        "; ".join(f"{k}={v}" for k, v in t.items()), r.definition])
    return 0


def _cell(text: str) -> str:
    """Text for a CSV that spreadsheets open: a leading = + - @ would start a formula."""
    return "'" + text if text[:1] in ("=", "+", "-", "@") else text


def _rank_line(r: dict, level: str) -> list:
    score = "" if r["score"] is None or not r["ranked"] else f"{r['score']:.2f}"
    if r["ranked"]:
        rank, note = str(r["rank"]), ("并列" if r.get("tie") else "")
    else:
        rank, note = "不参与排名", r["reason"]
    line = [_cell(r["code"]), _cell(r["name"])]
    if level != "unit":
        line.append(_cell(r["unit"]))
    return line + [score, rank, r["grade"] or "", note]


def cmd_rank(args) -> int:
    from lib import scoring

    try:
        period = scoring.Period.parse(args.period)
        as_of = parse_time(args.as_of) if args.as_of else None
    except ValueError as exc:  # ScoringError is a ValueError
        msg = str(exc) if isinstance(exc, scoring.ScoringError) else \
            f"--as-of 时间无效：“{args.as_of}”（示例：2026-11-01T12:00）"
        print(f"错误：{msg}", file=sys.stderr)
        return 2
    with db.read_scope() as s:
        if args.published:
            snap = scoring.get_snapshot(s, period, args.level)
            if snap is None:
                print(f"错误：{period.label}{scoring.LEVELS[args.level]}排名尚未公布"
                      f"（公布：python -m lib publish --period {period.code}）", file=sys.stderr)
                return 2
            if not scoring.verify_snapshot(snap):
                print("错误：快照内容与公布时的哈希不符，可能已被篡改", file=sys.stderr)
                return 1
            rows = scoring.snapshot_rows(snap)
            header = (f"# {period.label}{scoring.LEVELS[args.level]}排名（已公布 "
                      f"{fmt_time(snap.published_at)}，哈希 {snap.hash}）")
        else:
            try:
                ranking = scoring.compute(s, period, args.level, as_of=as_of)
            except scoring.ScoringError as exc:
                print(f"错误：{exc}", file=sys.stderr)
                return 2
            rows = ranking.rows()
            header = (f"# {period.label}{scoring.LEVELS[args.level]}排名（实时计算，截至 "
                      f"{scoring.as_of_text(ranking.as_of)}，未公布）")
    names = ["单位代码", "单位名称"] if args.level == "unit" else ["代码", "名称", "所属单位"]
    names += ["得分", "名次", "等次", "说明"]
    if args.format == "table":
        print(header)
        print("\t".join(names))
        for r in rows:
            print("\t".join(str(x) for x in _rank_line(r, args.level)))
        return 0
    w = csv.writer(sys.stdout, lineterminator="\n")
    w.writerow(names)
    for r in rows:
        w.writerow(_rank_line(r, args.level))
    print(header, file=sys.stderr)
    return 0


def cmd_publish(args) -> int:
    from lib import scoring

    try:
        def publish(s):
            snap = scoring.publish(s, SYSTEM, args.period, args.level)
            ranked = sum(1 for r in scoring.snapshot_rows(snap) if r["ranked"])
            return ranked, scoring.Period.parse(snap.period).label, snap.hash

        ranked, label, digest = db.transact(publish)
    except scoring.ScoringError as exc:
        print(f"错误：{exc}", file=sys.stderr)
        return 2
    print(f"已公布 {label}{scoring.LEVELS[args.level]}排名：{ranked} 个参与排名；"
          f"哈希 {digest}（公布后不可更改）")
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m lib", description="电子监察综合平台命令行")
    sub = p.add_subparsers(dest="command", required=True)

    i = sub.add_parser("init", help="创建并迁移数据库，写入基础目录")
    i.add_argument("--reset", action="store_true", help="先删除全部数据（不可恢复）")
    i.add_argument("--demo-if-empty", action="store_true", help="库中没有事项时载入演示数据")
    i.set_defaults(func=cmd_init)

    d = sub.add_parser("demo", help="载入演示数据（仅限空库）")
    d.add_argument("--scale", type=float, default=1.0, help="普通事项数量倍数（1 倍约 2.5 万件）")
    d.add_argument("--items", type=int, default=None, help="普通事项的确切数量（覆盖 --scale）")
    d.add_argument("--seed", type=int, default=2026)
    d.add_argument("--reset", action="store_true", help="先删除全部数据")
    d.set_defaults(func=cmd_demo)

    c = sub.add_parser("catalog", help="输出区域、单位、领域、子系统目录")
    c.add_argument("--format", choices=["csv"], default="csv")
    c.set_defaults(func=cmd_catalog)

    from lib import exchange

    im = sub.add_parser("import", help="导入数据（CSV 或 Excel；全部成功或全部不写入）")
    im_sub = im.add_subparsers(dest="what", required=True)
    for code, kind in sorted(exchange.load_kinds().items()):
        columns = ",".join(c.code for c in kind.columns)
        ii = im_sub.add_parser(code, help=f"{kind.label}（列：{columns}）")
        ii.add_argument("file")
        ii.add_argument("--actor", default="命令行导入")
        ii.set_defaults(func=cmd_import)

    au = sub.add_parser("audit", help="审计日志")
    au_sub = au.add_subparsers(dest="what", required=True)
    av = au_sub.add_parser("verify", help="逐条校验审计链，报告第一处断裂")
    av.set_defaults(func=cmd_audit_verify)

    bk = sub.add_parser("backup", help="在线备份整个数据库（SQLite 在线备份；PostgreSQL 用 pg_dump 自定义格式），应用可照常运行")
    bk.add_argument("file", help="备份文件")
    bk.set_defaults(func=cmd_backup)

    rs = sub.add_parser("restore", help="从备份文件恢复整个数据库（目标库非空时须加 --force）")
    rs.add_argument("file", help="python -m lib backup 写出的备份文件")
    rs.add_argument("--force", action="store_true", help="覆盖目标库中的现有全部数据（不可撤销）")
    rs.set_defaults(func=cmd_restore)

    he = sub.add_parser("health", help="运行状况：数据库连接、版本、督办扫描、审计链、事项数（异常时退出码 1，供 cron 与监控）")
    he.add_argument("--format", choices=["text", "json"], default="text")
    he.add_argument("--sweep-max-age", type=int, default=10, help="督办扫描超过这么多分钟未运行即为异常")
    he.add_argument("--no-verify", action="store_true", help="不逐条校验审计链（只报链头）")
    he.set_defaults(func=cmd_health)

    sw = sub.add_parser("sweep", help="督办扫描：为逾期未办结事项发出督办通知，并提级督办（可由 cron 每分钟运行）")
    sw.set_defaults(func=cmd_sweep)

    ro = sub.add_parser("rollups", help="汇总表：verify 由基础表逐格重算核对（不一致时退出码 1），rebuild 全部重建")
    ro.add_argument("what", choices=("verify", "rebuild"))
    ro.set_defaults(func=cmd_rollups)

    fl = sub.add_parser("flags", help="列出各领域规则在某一时刻触发的红黄牌（domain,subject,flag,light,amount,reason）")
    fl.add_argument("--domain", default=None, help="领域代码：POWER、MARKET、FUNDS、DISCLOSURE 等")
    fl.add_argument("--as-of", default=None, help="时刻（ISO 8601，无时区按北京时间），默认现在")
    fl.add_argument("--format", choices=["csv"], default="csv")
    fl.add_argument("--refresh", action="store_true", help="先按当前数据复核规则，更新红黄牌（写入）")
    fl.set_defaults(func=cmd_flags)

    ru = sub.add_parser("rules", help="列出规则：代码、名称、阈值与定义（含出处）")
    ru.add_argument("--domain", default=None)
    ru.set_defaults(func=cmd_rules)

    ex = sub.add_parser("export", help="导出数据")
    ex_sub = ex.add_subparsers(dest="what", required=True)
    eo = ex_sub.add_parser("open311", help="群众诉求，Open311 GeoReport v2 格式（JSON，不含个人信息）")
    eo.set_defaults(func=cmd_export_open311)
    for code, kind in sorted(exchange.load_kinds().items()):
        if kind.export is None:
            continue
        ek = ex_sub.add_parser(code, help=f"{kind.label}（与导入同列，可再导入）")
        ek.add_argument("--format", choices=["csv", "xlsx"], default="csv")
        ek.add_argument("--output", default=None, help="输出文件（默认标准输出；xlsx 必须指定）")
        ek.set_defaults(func=cmd_export_kind)

    sy = sub.add_parser("sync", help="从前置库拉取水位之后的数据（可由 cron 定时运行）")
    sy.add_argument("name", nargs="?", help="同步源名称")
    sy.add_argument("--all", action="store_true", help="依次同步全部启用的同步源")
    sy.add_argument("--list", action="store_true", help="列出同步源及其水位")
    sy.add_argument("--max-batches", type=int, default=None)
    sy.set_defaults(func=cmd_sync)

    lt = sub.add_parser("lights", help="输出每个事项在某一时刻的灯色")
    lt.add_argument("--as-of", default=None, help="时刻（ISO 8601，无时区按北京时间），默认现在")
    lt.add_argument("--format", choices=["csv"], default="csv")
    lt.set_defaults(func=cmd_lights)

    levels = ["unit", "post", "person"]
    rk = sub.add_parser("rank", help="行政效能排名（实时计算，或 --published 读取已公布的快照）")
    rk.add_argument("--period", required=True, help="考核期：月度 2026-11、季度 2026-Q3、年度 2026")
    rk.add_argument("--level", choices=levels, default="unit", help="单位、岗位或个人")
    rk.add_argument("--format", choices=["csv", "table"], default="csv")
    rk.add_argument("--published", action="store_true", help="输出已公布的排名快照")
    rk.add_argument("--as-of", default=None, help="实时计算的时刻（ISO 8601），默认现在")
    rk.set_defaults(func=cmd_rank)

    pb = sub.add_parser("publish", help="公布一个已结束考核期的排名（冻结为不可更改的快照）")
    pb.add_argument("--period", required=True, help="考核期：月度 2026-10、季度 2026-Q3、年度 2025")
    pb.add_argument("--level", choices=levels, default="unit")
    pb.set_defaults(func=cmd_publish)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except BrokenPipeError:  # `python -m lib rank … | head`: the reader has gone, not an error
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


if __name__ == "__main__":
    sys.exit(main())
