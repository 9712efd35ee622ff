"""Helpers for AppTest: a writable copy of the demo database, and signing in through the form."""

import sqlite3

from streamlit.testing.v1 import AppTest

# The sign-in page's inputs: the login form, and the first sign-in form (activation code).
LOGIN_KEYS = ["login_username", "login_password", "activate_username", "activate_code",
              "activate_new", "activate_again"]
PASSWORDS = {"admin": "Guanli@2026", "leader": "Lingdao@2026", "inspector": "Jiancha@2026",
             "staff": "Jingban@2026", "staff_fg": "Fagai@2026", "reviewer": "Shencha@2026"}


def copy_sqlite(url: str, dest) -> str:
    """A private copy of a SQLite database (through the backup API, so WAL content comes too)."""
    src = sqlite3.connect(url.split("///", 1)[1])
    dst = sqlite3.connect(str(dest))
    src.backup(dst)
    src.close()
    dst.close()
    return f"sqlite:///{dest}"


def app(page: str = "Home.py") -> AppTest:
    at = AppTest.from_file("../Home.py", default_timeout=120)
    return at


def login(at: AppTest, username: str, password: str | None = None) -> AppTest:
    if not at.text_input:
        at.run()
    at.text_input(key="login_username").input(username)
    at.text_input(key="login_password").input(password or PASSWORDS[username])
    next(b for b in at.button if b.label == "登录").click()
    return at.run()


def page_links(at: AppTest) -> list[str]:
    """The navigation: the page links in the sidebar (the cockpit has links of its own)."""
    return [p.label for p in at.sidebar.get("page_link")]


def errors(at: AppTest) -> list[str]:
    return [e.value for e in at.error]
