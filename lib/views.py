"""What a view shows, written in its URL, and which page shows each domain.

A leader's click on the cockpit opens a list "as of this day, this window, this county, this
domain, only the red cards"; the same view must open from a link sent by mail, and the browser's
back button must return to it. So the filters live in the URL's query parameters, as codes (not
screen labels, so a link keeps working when a label changes):

    asof=2026-11-20  window=30|90|365|all  county=440882  domain=POWER  sub=APPROVAL
    light=red|yellow|green|grey  state=open|closed  unit=440823.ZRZY  q=text  page=2

A parameter at its default is left out (no `asof`: today, now). `View.parse` ignores what it does
not know (a stale or mistyped link opens the nearest sensible view rather than an error). Nothing
here imports Streamlit: `lib.ui` reads and writes the parameters, and the tests use this module
directly.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from datetime import date

from lib.lights import GREEN, GREY, RED, YELLOW
from lib.queries import STATES

# The statistics windows (days; None: everything), in the order the selectors show them.
WINDOWS = {"30": 30, "90": 90, "365": 365, "all": None}
WINDOW_LABELS = {"30": "近30天", "90": "近90天", "365": "近一年", "all": "全部"}
DEFAULT_WINDOW = "365"
LIGHTS = (RED, YELLOW, GREEN, GREY)

# The page (lib.access.PAGES key) that shows each domain's items. Today the item list, filtered
# to the domain, shows them all; when a domain gets its own page (权力运行, 要素市场, 专项资金,
# 信息公开 are next), change its line here and every link to that domain follows.
DOMAIN_PAGES = {
    "POWER": "power",
    "MARKET": "market",
    "FUNDS": "funds",
    "COMPLAINT": "items",
    "EFFICIENCY": "items",
    "DISCLOSURE": "disclosure",
}
LIST_PAGE = "items"  # the list every count and ranking bar opens


def domain_page(domain_code: str | None) -> str:
    """The page key that shows this domain (the item list for an unknown or no domain)."""
    return DOMAIN_PAGES.get(domain_code or "", LIST_PAGE)


@dataclass(frozen=True)
class Known:
    """The codes a link may name (from the catalog); anything else in a URL is ignored."""

    counties: frozenset[str] = frozenset()
    domains: frozenset[str] = frozenset()
    subsystems: frozenset[str] = frozenset()
    units: frozenset[str] = frozenset()


@dataclass(frozen=True)
class View:
    """The filters of a view. Every field has a default, left out of the URL."""

    day: date | None = None  # None: today, as of now
    window: str = DEFAULT_WINDOW
    county: str | None = None  # adcode
    domain: str | None = None
    sub: str | None = None
    light: str | None = None
    state: str | None = None
    unit: str | None = None  # unit code
    q: str | None = None
    page: int = 1

    @property
    def window_days(self) -> int | None:
        return WINDOWS[self.window]

    def params(self, *, only: tuple[str, ...] | None = None) -> dict[str, str]:
        """The URL's query parameters for this view (defaults left out); `only` keeps those."""
        out: dict[str, str] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if value == f.default or value in (None, ""):
                continue
            name = "asof" if f.name == "day" else f.name
            if only is not None and name not in only:
                continue
            out[name] = value.isoformat() if isinstance(value, date) else str(value)
        return out

    def but(self, **changes) -> View:
        """The same view with some filters changed (a drill-down); back to the first page."""
        return replace(self, **({"page": 1} | changes))

    @classmethod
    def parse(cls, params: Mapping[str, str | list[str]], *, today: date,
              known: Known | None = None) -> View:
        """The view a URL names. Unknown names and invalid values are ignored; a day in the
        future or today means today."""
        def get(name: str) -> str | None:
            value = params.get(name)
            if isinstance(value, list):
                value = value[-1] if value else None
            value = (value or "").strip()
            return value or None

        def code(name: str, allowed: frozenset[str] | None) -> str | None:
            value = get(name)
            if value is None or (allowed is not None and value not in allowed):
                return None
            return value

        k = known
        day = None
        if (text := get("asof")) is not None:
            try:
                parsed = date.fromisoformat(text)
            except ValueError:
                parsed = None
            if parsed is not None and parsed < today:
                day = parsed
        window = get("window")
        page = get("page")
        return cls(
            day=day,
            window=window if window in WINDOWS else DEFAULT_WINDOW,
            county=code("county", k.counties if k else None),
            domain=code("domain", k.domains if k else None),
            sub=code("sub", k.subsystems if k else None),
            light=code("light", frozenset(LIGHTS)),
            state=code("state", frozenset(STATES)),
            unit=code("unit", k.units if k else None),
            q=(get("q") or "")[:64] or None,
            page=int(page) if page and page.isdigit() and 0 < int(page) < 1_000_000 else 1,
        )


# The cockpit passes on these to the lists it opens.
COCKPIT_PARAMS = ("asof", "window", "county")
