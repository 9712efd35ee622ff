"""专项资金 (special funds): programs and budgets, payments down to the person paid, the registers
they are checked against, and the rules that find what goes wrong (lib.flags).

- `models`: programs, payees, accounts, payments, the register of deaths and closed enterprises,
  household links; identity and account numbers only as keyed hashes and ciphertext (`ids`).
- `kinds`: import kinds `programs`, `payments`, `deaths`.
- `rules`: execution against the time-proportional plan, "三公" spending, payment anomalies.
- `store`: what the 专项资金 page and the public portal read; an inspector's audited reading of
  a payee's identity number and account.
- `demo`: realistic volumes per fund line with a few planted anomalies of each kind.

Each payment's approval-to-payment step is a supervised item (external id `PAY.<payment>`),
so the one engine lights late payments and the fund lines' cockpit cards count them.
"""

from __future__ import annotations

from lib.domains.funds import kinds, models, rules  # noqa: F401 - registers tables, kinds, rules
from lib.domains.funds.demo import load_demo  # noqa: F401

DOMAIN = "FUNDS"
COVERS = kinds.FUND_LINES


def catalog_rows(session) -> list[dict]:
    """The fund programs, for `python -m lib catalog` (kind fund_program, parent: its fund line)."""
    from sqlalchemy import select

    from lib.models import Subsystem

    lines = dict(session.execute(select(Subsystem.id, Subsystem.code)).all())
    return [{"kind": "fund_program", "code": p.code, "name": p.name, "parent": lines[p.subsystem_id]}
            for p in session.scalars(select(models.FundProgram).order_by(models.FundProgram.code))]
