"""要素市场 (element markets): public procurement, construction bidding, land and state
property-rights trading, with explainable red flags.

Records: `models` (tenders, bids, land and property transfers). Statutory steps (a result
published within 2 working days, a contract within 30 days, an SME paid within 30 days …) are
items lit by the one engine (`steps`); red flags are `@lib.flags.rule` functions (`rules`) with
configurable thresholds and distribution fences computed from the data. Import kinds `tenders`
and `bids` (`kinds`); demo data (`demo`); the page is pages/market.py."""

from __future__ import annotations

from . import kinds, models, rules  # noqa: F401 - registers the tables, kinds and rules
from .demo import load_demo  # noqa: F401

DOMAIN = "MARKET"
COVERS = ("PROCURE", "BIDDING", "LAND", "PROPERTY")
