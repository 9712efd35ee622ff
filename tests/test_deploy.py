"""The deployment files under deploy/ (docs/deploy.md): what they run exists, and they say what
the guide says they do. The running test is tests/browser/test_deploy_browser.py."""

import configparser
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from lib.__main__ import build_parser

ROOT = Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "deploy"
UNITS = sorted((DEPLOY / "systemd").glob("*.service")) + sorted((DEPLOY / "systemd").glob("*.timer"))


def unit(path: Path) -> configparser.RawConfigParser:
    p = configparser.RawConfigParser(strict=False, delimiters=("=",), comment_prefixes=("#",))
    p.optionxform = str
    p.read_string(path.read_text(encoding="utf-8").replace("\\\n", " "))
    return p


def test_the_units_the_guide_names_exist():
    names = {p.name for p in UNITS}
    assert names >= {"esupervision-app@.service", "esupervision-sweep.service",
                     "esupervision-sweep.timer", "esupervision-backup.service",
                     "esupervision-backup.timer", "esupervision-health.service",
                     "esupervision-health.timer"}
    guide = (ROOT / "docs" / "deploy.md").read_text(encoding="utf-8")
    for name in names | {"esupervision.conf", "env.example"}:
        assert name.split("@")[0].split(".")[0] in guide
    assert "docs/deploy.md" in (ROOT / "README.md").read_text(encoding="utf-8")


def test_services_call_existing_commands():
    commands = set(build_parser()._subparsers._group_actions[0].choices)
    for path in UNITS:
        if path.suffix != ".service":
            continue
        service = unit(path)["Service"]
        assert service["EnvironmentFile"] == "/etc/esupervision/env", path.name
        for cmd in re.findall(r"python -m (\S+)(?: (\w+))?", service["ExecStart"]):
            module, sub = cmd
            assert module in ("lib", "streamlit"), path.name
            if module == "lib":
                assert sub in commands, (path.name, sub)
    app = unit(DEPLOY / "systemd" / "esupervision-app@.service")["Service"]["ExecStart"]
    assert "--server.port %i" in app and "--server.address 127.0.0.1" in app
    assert "Home.py" in app and (ROOT / "Home.py").exists()


def test_timers_name_their_service_schedules():
    for path in UNITS:
        if path.suffix == ".timer":
            timer = unit(path)["Timer"]
            assert "OnCalendar" in timer
            assert (path.with_suffix(".service")).exists()


def test_env_example_turns_the_in_app_sweep_off_and_names_every_secret():
    env = (DEPLOY / "env.example").read_text(encoding="utf-8")
    for key in ("APP_ENV=production", "DATABASE_URL=", "AUTH_COOKIE_KEY=", "PRIVACY_KEY=",
                "ESUP_SWEEPER=0"):
        assert key in env
    # The switch the environment file sets is the one the app reads.
    assert 'os.environ.get("ESUP_SWEEPER", "1") == "0"' in (ROOT / "lib" / "ui.py").read_text(
        encoding="utf-8")


def test_nginx_site_is_sticky_and_passes_websockets():
    conf = (DEPLOY / "nginx" / "esupervision.conf").read_text(encoding="utf-8")
    upstream = re.search(r"upstream esupervision \{(.*?)\}", conf, re.S).group(1)
    assert re.search(r"^\s*ip_hash;", upstream, re.M)
    assert len(re.findall(r"^\s*server 127\.0\.0\.1:85\d\d", upstream, re.M)) >= 2
    assert "proxy_set_header Upgrade $http_upgrade;" in conf
    assert "proxy_set_header Connection $connection_upgrade;" in conf
    assert "proxy_http_version 1.1;" in conf
    assert "proxy_set_header X-Real-IP $remote_addr;" in conf
    assert re.search(r"proxy_read_timeout\s+\d{4,}s;", conf)
    assert conf.count("{") == conf.count("}")


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze not installed")
@pytest.mark.parametrize("path", UNITS, ids=lambda p: p.name)
def test_units_verify(path, tmp_path):
    """systemd's own parser: no unknown key or bad value (the install paths do not exist here,
    so their absence is the only complaint allowed)."""
    target = tmp_path / path.name.replace("@.service", "@8501.service")
    target.write_text(path.read_text(encoding="utf-8"), encoding="utf-8")
    if path.suffix == ".timer":
        (tmp_path / path.with_suffix(".service").name).write_text(
            (path.with_suffix(".service")).read_text(encoding="utf-8"), encoding="utf-8")
    proc = subprocess.run(["systemd-analyze", "verify", str(target)], capture_output=True,
                          text=True)
    problems = [line for line in (proc.stderr + proc.stdout).splitlines()
                if line.strip() and "is not executable" not in line
                and "No such file or directory" not in line]
    assert not problems, problems
