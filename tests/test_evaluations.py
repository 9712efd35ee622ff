"""Online evaluation from the public portal: validation and per-source limits."""

from datetime import datetime, timedelta

import pytest
from sqlalchemy import func, select

from lib import catalog, db, evaluations
from lib.config import TZ
from lib.evaluations import EvaluationError
from lib.models import Evaluation, Unit

NOW = datetime(2026, 6, 15, 10, 0, tzinfo=TZ)


def unit_ids(s, n):
    return list(s.scalars(select(Unit.id).where(Unit.code != catalog.INSPECTORS_UNIT)
                          .order_by(Unit.code).limit(n)))


def test_validation_writes_nothing(empty_engine):
    with db.session_scope(empty_engine) as s:
        uid = unit_ids(s, 1)[0]
        inspectors = s.scalar(select(Unit.id).where(Unit.code == catalog.INSPECTORS_UNIT))
        for unit, rating, comment, message in (
                (None, 4, "", "请选择要评价的单位"), (inspectors, 4, "", "请选择要评价的单位"),
                (uid, None, "", "请选择满意程度"), (uid, 6, "", "请选择满意程度"),
                (uid, 4, "长" * 201, "不能超过 200 字")):
            with pytest.raises(EvaluationError, match=message):
                evaluations.submit(s, unit, rating, comment, source="1.2.3.4", now=NOW)
        assert s.scalar(select(func.count()).select_from(Evaluation)) == 0


def test_one_evaluation_per_unit_and_source_a_month_and_ten_a_day(empty_engine):
    with db.session_scope(empty_engine) as s:
        ids = unit_ids(s, 12)
        evaluations.submit(s, ids[0], 5, " 很好 ", source="1.2.3.4", now=NOW)
        with pytest.raises(EvaluationError, match="30 天内已评价过"):
            evaluations.submit(s, ids[0], 1, "", source="1.2.3.4", now=NOW + timedelta(days=29))
        evaluations.submit(s, ids[0], 4, "", source="5.6.7.8", now=NOW)  # another source
        evaluations.submit(s, ids[0], 3, "", source="1.2.3.4", now=NOW + timedelta(days=31))
        for uid in ids[1:10]:
            evaluations.submit(s, uid, 4, "", source="9.9.9.9", now=NOW)
        evaluations.submit(s, ids[10], 4, "", source="9.9.9.9", now=NOW)  # the tenth today
        with pytest.raises(EvaluationError, match="每天最多评价 10 个单位"):
            evaluations.submit(s, ids[11], 4, "", source="9.9.9.9", now=NOW)
        rows = s.scalars(select(Evaluation).order_by(Evaluation.id)).all()
        assert rows[0].comment == "很好" and rows[0].source_hash != "1.2.3.4"
        assert len(rows) == 13
