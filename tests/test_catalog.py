"""The reference catalog: `seed_catalog` writes what is missing, and its quick check (made once
by every app process when it starts) sees any row that is missing."""

from sqlalchemy import delete, func, select

from lib import catalog, db
from lib.models import Domain, Region, Subsystem, Unit


def _count(s) -> tuple[int, ...]:
    return tuple(s.scalar(select(func.count()).select_from(m)) for m in (Region, Domain,
                                                                         Subsystem, Unit))


def test_the_quick_check_sees_each_kind_of_missing_row(empty_engine):
    with db.session_scope(empty_engine) as s:
        assert catalog.catalog_complete(s)
        full = _count(s)
    for model, code in [(Unit, catalog.unit_code(catalog.COUNTIES[3][0], catalog.COUNTY_DEPTS[0][0])),
                        (Region, catalog.town_code(catalog.COUNTIES[4][0], 0)),
                        (Subsystem, catalog.SUBSYSTEMS[-1].code),
                        (Domain, catalog.DOMAINS[-1][0])]:
        with db.session_scope(empty_engine) as s:
            if model is Domain:  # its subsystems go first (they refer to it)
                d = s.scalar(select(Domain.id).where(Domain.code == code))
                s.execute(delete(Subsystem).where(Subsystem.domain_id == d))
            s.execute(delete(model).where(model.code == code))
            assert _count(s) != full
        with db.session_scope(empty_engine) as s:
            assert not catalog.catalog_complete(s), code
            catalog.seed_catalog(s)
        with db.session_scope(empty_engine) as s:
            assert catalog.catalog_complete(s)
            assert _count(s) == full
            assert s.scalar(select(func.count()).select_from(model).where(model.code == code)) == 1


def test_a_subsystem_new_in_the_code_is_written(empty_engine, monkeypatch):
    new = catalog.SubsystemSpec("NEW_ONE", "新子系统", "POWER", "10wd", None)
    monkeypatch.setattr(catalog, "SUBSYSTEMS", [*catalog.SUBSYSTEMS, new])
    catalog._codes.cache_clear()
    try:
        with db.session_scope(empty_engine) as s:
            assert not catalog.catalog_complete(s)
            catalog.seed_catalog(s)
        with db.session_scope(empty_engine) as s:
            assert catalog.catalog_complete(s)
            assert s.scalar(select(Subsystem.name).where(Subsystem.code == "NEW_ONE")) == "新子系统"
    finally:
        catalog._codes.cache_clear()
