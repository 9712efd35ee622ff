"""Command line: `python -m lib COMMAND` (see `python -m lib --help`)."""

from __future__ import annotations

import argparse
import csv
import sys
import time

from sqlalchemy import MetaData, select, text

from lib import audit, catalog, db, demo, queries
from lib.access import SYSTEM
from lib.clock import now_utc
from lib.config import TZ
from lib.importer import ImportFailed, import_items_file, parse_time
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
    with engine.begin() as conn:
        conn.exec_driver_sql("PRAGMA foreign_keys=OFF")
        for table in reversed(meta.sorted_tables):
            conn.exec_driver_sql(f'DROP TABLE IF EXISTS "{table.name}"')


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
    with db.session_scope() as s:
        rows = catalog.catalog_rows(s)
    w = csv.DictWriter(sys.stdout, fieldnames=["kind", "code", "name", "parent"], lineterminator="\n")
    w.writeheader()
    w.writerows(rows)
    return 0


def cmd_import(args) -> int:
    try:
        with db.session_scope() as s:
            result = import_items_file(s, args.file, actor=args.actor)
    except ImportFailed as exc:
        print(str(exc), file=sys.stderr)
        return 2
    print(f"导入完成：共 {result.rows} 行，新增 {result.created}，更新 {result.updated}，"
          f"未变 {result.unchanged}")
    return 0


def cmd_lights(args) -> int:
    try:
        as_of = parse_time(args.as_of) if args.as_of else now_utc()
    except ValueError:
        print(f"错误：--as-of 时间无效：“{args.as_of}”（示例：2026-11-01T12:00）", file=sys.stderr)
        return 2
    with db.session_scope() as s:
        rows = queries.item_lights(s, user=SYSTEM, as_of=as_of)
    w = csv.writer(sys.stdout, lineterminator="\n")
    w.writerow(["external_id", "deadline", "light"])
    for ext, deadline, light in rows:
        w.writerow([ext, deadline.astimezone(TZ).isoformat()
                    if deadline else "", light])
    return 0


def cmd_audit_verify(args) -> int:
    with db.session_scope() as s:
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

    with db.session_scope() as s:
        requests = submissions.open311(s)
    json.dump(requests, sys.stdout, ensure_ascii=False, indent=1)
    sys.stdout.write("\n")
    return 0


def cmd_sweep(args) -> int:
    from lib import notices

    started = time.perf_counter()
    with db.session_scope() as s:
        result = notices.sweep(s)
    print(f"督办扫描完成：新发督办通知 {result.issued} 份，提级督办 {result.escalated} 份，"
          f"用时 {time.perf_counter() - started:.2f} 秒")
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
    with db.session_scope() as s:
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
        with db.session_scope() as s:
            snap = scoring.publish(s, SYSTEM, args.period, args.level)
            ranked = sum(1 for r in scoring.snapshot_rows(snap) if r["ranked"])
            label = scoring.Period.parse(snap.period).label
            digest = snap.hash
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

    im = sub.add_parser("import", help="导入数据")
    im_sub = im.add_subparsers(dest="what", required=True)
    ii = im_sub.add_parser("items", help="从 CSV 导入监察事项")
    ii.add_argument("file")
    ii.add_argument("--actor", default="命令行导入")
    ii.set_defaults(func=cmd_import)

    au = sub.add_parser("audit", help="审计日志")
    au_sub = au.add_subparsers(dest="what", required=True)
    av = au_sub.add_parser("verify", help="逐条校验审计链，报告第一处断裂")
    av.set_defaults(func=cmd_audit_verify)

    sw = sub.add_parser("sweep", help="督办扫描：为逾期未办结事项发出督办通知，并提级督办（可由 cron 每分钟运行）")
    sw.set_defaults(func=cmd_sweep)

    ex = sub.add_parser("export", help="导出数据")
    ex_sub = ex.add_subparsers(dest="what", required=True)
    eo = ex_sub.add_parser("open311", help="群众诉求，Open311 GeoReport v2 格式（JSON，不含个人信息）")
    eo.set_defaults(func=cmd_export_open311)

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
