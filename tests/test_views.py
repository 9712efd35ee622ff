"""Views written in URLs: every filter round-trips, defaults stay out, bad links degrade."""

from datetime import date

from lib import access, catalog, views
from lib.views import Known, View

TODAY = date(2026, 11, 20)
KNOWN = Known(counties=frozenset(c for c, _ in catalog.COUNTIES),
              domains=frozenset({"POWER", "MARKET"}), subsystems=frozenset({"APPROVAL"}),
              units=frozenset({"440823.ZRZY"}))


def test_a_view_round_trips_through_its_url():
    v = View(day=date(2026, 6, 30), window="30", county="440882", domain="POWER", sub="APPROVAL",
             light="red", state="open", unit="440823.ZRZY", q="许可", page=3)
    params = v.params()
    assert params == {"asof": "2026-06-30", "window": "30", "county": "440882", "domain": "POWER",
                      "sub": "APPROVAL", "light": "red", "state": "open", "unit": "440823.ZRZY",
                      "q": "许可", "page": "3"}
    assert View.parse(params, today=TODAY, known=KNOWN) == v


def test_defaults_are_left_out():
    assert View().params() == {}
    assert View(window="365", page=1).params() == {}
    v = View(day=date(2026, 1, 2), county="440882", domain="POWER", light="red")
    assert v.params(only=views.COCKPIT_PARAMS) == {"asof": "2026-01-02", "county": "440882"}


def test_a_drill_down_goes_back_to_the_first_page():
    v = View(domain="POWER", page=4)
    assert v.but(light="red") == View(domain="POWER", light="red", page=1)


def test_unknown_or_bad_values_are_ignored():
    bad = {"asof": "2026-13-45", "window": "7", "county": "999999", "domain": "<script>",
           "light": "purple", "state": "maybe", "unit": "NOPE", "page": "-2", "extra": "x"}
    assert View.parse(bad, today=TODAY, known=KNOWN) == View()
    # Today or a future day means "now"; a list value takes its last element.
    assert View.parse({"asof": "2026-11-20"}, today=TODAY).day is None
    assert View.parse({"asof": "2030-01-01"}, today=TODAY).day is None
    assert View.parse({"light": ["yellow", "red"]}, today=TODAY).light == "red"
    assert View.parse({"page": "99999999"}, today=TODAY).page == 1


def test_every_domain_has_a_page_that_exists():
    assert set(views.DOMAIN_PAGES) == {code for code, *_ in catalog.DOMAINS}
    for code in views.DOMAIN_PAGES:
        assert views.domain_page(code) in access.PAGE_BY_KEY
    assert views.domain_page(None) == views.LIST_PAGE == "items"
