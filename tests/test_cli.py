"""The command line, `python -m lib`."""

import csv
import io
import os
import subprocess
import sys
from pathlib import Path

import pytest

from lib import db
from lib.__main__ import main

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def cli_db(empty_engine, monkeypatch):
    url = empty_engine.url.render_as_string(hide_password=False)
    monkeypatch.setenv("DATABASE_URL", url)
    return url


def run_cli(capsys, *args):
    code = main(list(args))
    out = capsys.readouterr()
    return code, out.out, out.err


def test_catalog_csv(cli_db, capsys):
    code, out, _ = run_cli(capsys, "catalog", "--format", "csv")
    assert code == 0
    rows = list(csv.DictReader(io.StringIO(out)))
    assert list(rows[0]) == ["kind", "code", "name", "parent"]
    kinds = {r["kind"] for r in rows}
    assert kinds == {"region", "unit", "domain", "subsystem", "town"}  # villages: demo only
    by_code = {(r["kind"], r["code"]): r for r in rows}
    assert by_code[("region", "440811")]["name"] == "麻章区"
    assert by_code[("region", "440811")]["parent"] == "440800"
    assert by_code[("subsystem", "KEYPROJ")]["parent"] == "EFFICIENCY"
    assert sum(r["kind"] == "domain" for r in rows) == 6
    assert sum(r["kind"] == "region" and r["code"].endswith("000") and len(r["code"]) == 12
               for r in rows) == 88


def test_import_then_lights(cli_db, capsys, tmp_path):
    f = tmp_path / "items.csv"
    f.write_text("external_id,subsystem,unit,received_at,time_limit,completed_at\n"
                 "A-1,APPROVAL,ZJ.FG,2026-09-30T10:00,5wd,\n"
                 "A-2,FEES,ZJ.CZ,2026-09-30T10:00,48h,2026-10-01T09:00\n", encoding="utf-8")
    code, out, _ = run_cli(capsys, "import", "items", str(f))
    assert code == 0 and "新增 2" in out
    code, out, _ = run_cli(capsys, "lights", "--as-of", "2026-10-13T12:00", "--format", "csv")
    assert code == 0
    rows = list(csv.DictReader(io.StringIO(out)))
    assert rows == [
        {"external_id": "A-1", "deadline": "2026-10-14T00:00:00+08:00", "light": "yellow"},
        {"external_id": "A-2", "deadline": "2026-10-02T10:00:00+08:00", "light": "green"},
    ]
    _, out, _ = run_cli(capsys, "lights", "--as-of", "2026-10-14T00:00:01")
    assert "A-1,2026-10-14T00:00:00+08:00,red" in out
    _, out, _ = run_cli(capsys, "lights", "--as-of", "2026-09-30T09:00")
    assert out.strip() == "external_id,deadline,light"  # nothing received yet


def test_import_errors_exit_2_in_chinese(cli_db, capsys, tmp_path):
    f = tmp_path / "bad.csv"
    f.write_text("external_id,subsystem,unit,received_at,time_limit,completed_at\n"
                 "A-1,APPROVAL,NOPE,2026-09-30T10:00,,\n", encoding="utf-8")
    code, _, err = run_cli(capsys, "import", "items", str(f))
    assert code == 2
    assert "第2行：未知单位“NOPE”" in err


def test_bad_as_of(cli_db, capsys):
    code, _, err = run_cli(capsys, "lights", "--as-of", "yesterday")
    assert code == 2 and "时间无效" in err


def test_module_entry_point_init_and_demo(tmp_path):
    env = dict(os.environ, DATABASE_URL=f"sqlite:///{tmp_path / 'cli.db'}")
    done = subprocess.run([sys.executable, "-m", "lib", "init"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "数据库已就绪" in done.stdout
    done = subprocess.run([sys.executable, "-m", "lib", "demo", "--items", "500"], cwd=ROOT,
                          env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "演示数据已载入" in done.stdout
    again = subprocess.run([sys.executable, "-m", "lib", "demo"], cwd=ROOT, env=env,
                           capture_output=True, text=True, timeout=120)
    assert again.returncode == 2 and "空库" in again.stderr
    engine = db.make_engine(env["DATABASE_URL"])
    assert db.current_revision(engine) == db.head_revision()


def test_rank_publish_and_published(cli_db, capsys):
    from tests.test_scoring import A, B, C, fixture

    fixture(db.get_engine(cli_db), may=False)
    code, out, err = run_cli(capsys, "rank", "--level", "unit", "--period", "2026-06",
                             "--format", "csv", "--as-of", "2026-08-01T09:00")
    assert code == 0, err
    rows = list(csv.reader(io.StringIO(out)))
    assert rows[0] == ["单位代码", "单位名称", "得分", "名次", "等次", "说明"]
    by_code = {r[0]: r for r in rows[1:]}
    assert by_code[B][1:5] == ["徐闻县自然资源局", "95.54", "1", "优秀"]
    assert by_code[A][2:4] == ["62.92", "2"]
    assert by_code[C][2:] == ["", "不参与排名", "", "本期考核事项 2 件，少于 5 件，不参与排名"]
    assert "实时计算" in err

    code, _, err = run_cli(capsys, "rank", "--period", "2026-06", "--published")
    assert code == 2 and "尚未公布" in err
    code, out, _ = run_cli(capsys, "publish", "--period", "2026-06")
    assert code == 0 and "已公布 2026年6月单位排名：2 个参与排名" in out
    code, _, err = run_cli(capsys, "publish", "--period", "2026-06")
    assert code == 2 and "公布后不可更改" in err
    code, published, err = run_cli(capsys, "rank", "--period", "2026-06", "--published")
    assert code == 0 and "已公布" in err
    assert {r[0]: r for r in csv.reader(io.StringIO(published))}[B][2] == "95.54"

    code, _, err = run_cli(capsys, "rank", "--period", "2026-13")
    assert code == 2 and "格式不正确" in err
    code, _, err = run_cli(capsys, "publish", "--period", "2100-01")
    assert code == 2 and "尚未结束" in err
