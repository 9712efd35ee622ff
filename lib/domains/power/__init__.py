"""权力运行 (power operation): administrative approval watched before, during and after (事前、
事中、事后), law enforcement against the discretion standard, fees against the catalogue, and
planning permits against the plan.

- `models`: the records; `approvals`: the law's time rules for each step of an approval case
  (补正, acceptance, pauses, extension, decision, delivery) and staff's forms' writes;
- `others`: enforcement's decision step and the enforcement, fee and planning import kinds;
- `forms`: staff's writes for fees charged (登记收费) and enforcement decisions (登记处罚决定);
- `rules`: the domain's rules (timing: 环节超时; verdicts: warnings and red lines);
- `kinds`: import kinds `matters`, `approvals`, `pauses` (and the others');
- `stats`: what the page reads (funnel, 事前/事中/事后 views, a case's timeline, enforcement,
  fee charges and planning permits with their rules' findings);
- `demo`: the demo's cases at a realistic mix.
"""

from __future__ import annotations

from sqlalchemy import select

from . import kinds, rules  # noqa: F401 - registers the kinds and rules
from .demo import load_demo  # noqa: F401
from .models import Matter

DOMAIN = "POWER"
COVERS = ("APPROVAL", "ENFORCE")


def catalog_rows(session) -> list[dict]:
    """The approval matters, each with the unit that handles it as its parent."""
    from lib.models import Unit

    codes = dict(session.execute(select(Unit.id, Unit.code)).all())
    return [{"kind": "matter", "code": m.code, "name": m.name, "parent": codes[m.unit_id]}
            for m in session.scalars(select(Matter).order_by(Matter.code))]
