"""The supervision domains that have their own records, rules and pages, one package each.

A domain package (e.g. `lib.domains.power`) holds its models, rules (`@lib.flags.rule`), queries,
import kinds (`lib.exchange.register`) and demo data, so that a reader finds a domain in one
place. Its `__init__` imports its rules and kinds (which registers them) and names:
- `DOMAIN`: the domain code (POWER, MARKET, FUNDS, DISCLOSURE);
- `COVERS`: the subsystem codes whose items it now feeds itself (the generic demo stops making
  plain items for them);
- `load_demo(session, *, rng, anchor, scale)`: its demo data, into an empty database;
- optionally `due(session, now)`: what falls due with the calendar alone (a period's
  obligations when it ends), run by the sweep before the rules.

Adding a domain is adding its package and one line to PACKAGES.
"""

from __future__ import annotations

from importlib import import_module
from types import ModuleType

from sqlalchemy.orm import configure_mappers

PACKAGES: list[str] = [
    "lib.domains.power",
    "lib.domains.market",
    "lib.domains.funds",
    "lib.domains.disclosure",
]


def packages() -> list[ModuleType]:
    """Every domain package, imported (which registers its rules and import kinds)."""
    return [import_module(name) for name in PACKAGES]


def covered_subsystems() -> set[str]:
    """Subsystems whose items come from a domain package's own records."""
    return {code for p in packages() for code in getattr(p, "COVERS", ())}


def run_due(session, now=None) -> dict:
    """Each domain's calendar work (optional hook `due(session, now)`): the obligations of the
    periods just ended, …; run by the sweep before the rules."""
    from lib.clock import now_utc

    now = now or now_utc()
    return {p.DOMAIN: p.due(session, now) for p in packages() if hasattr(p, "due")}


def load_demo(session, *, rng, anchor, scale: float = 1.0) -> None:
    """Each domain's demo data, in the order of PACKAGES."""
    for p in packages():
        p.load_demo(session, rng=rng, anchor=anchor, scale=scale)


packages()
# Every model is known now: the mappers are configured here, once, when the library is imported
# (SQLAlchemy would otherwise do it inside the first query of a process: 0.04 s of a page's
# first run).
configure_mappers()
