"""信息公开 (DISCLOSURE): village disclosure (村务e路通) and government information disclosure
(政府信息公开). See `service` for the rules of time, `rules` for what the flags report, `kinds`
for the `disclosures` import, `queries` for the page."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session, aliased

from lib.models import Region

from . import kinds, models, rules  # noqa: F401 - registers the tables, rules and import kind
from .demo import load as _load

DOMAIN = "DISCLOSURE"
COVERS = ("VILLAGE", "GOVINFO")


def catalog_rows(session: Session) -> list[dict]:
    """Towns (kind `town`, parent the county) and villages (kind `village`, parent the town),
    whose codes the `disclosures` import names."""
    parent = aliased(Region)
    rows = session.execute(
        select(Region.level, Region.code, Region.name, parent.code)
        .join(parent, parent.id == Region.parent_id)
        .where(Region.level.in_(("town", "village"))).order_by(Region.level, Region.code))
    return [{"kind": level, "code": code, "name": name, "parent": p}
            for level, code, name, p in rows]


def due(session: Session, now) -> dict:
    """Obligations of the periods just ended, annual reports after New Year (the sweep)."""
    from .service import due as _due

    return _due(session, now)


def load_demo(session: Session, *, rng, anchor, scale: float = 1.0) -> None:
    _load(session, rng=rng, anchor=anchor, scale=scale)
