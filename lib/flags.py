"""Domain rules and what they find: one flag record for every domain, one way to a card.

Each domain keeps its rules beside each other (`lib/domains/<domain>/rules.py`), each a small
function registered once with `@rule(...)`, whose docstring states its definition and source,
and whose thresholds have defaults an administrator can override (`app_settings` keys
`rule.<CODE>.<name>`). A rule reads the domain's tables as of a time and returns `FlagRecord`s:
subject, rule code, light, amount at stake, reason, the inputs it read and the thresholds it
used — so the "why" is data, not a log line. The page, the command line (`python -m lib flags`)
and the card engine all read the same records.

Two kinds of rule:
- a *verdict* rule finds a red line crossed or an anomaly in the data (a single bid, a payment
  to a dead person). `refresh` keeps one `flags` row per rule and subject, and one item per flag
  whose `verdict` gives the card through the one light engine (`lib.lights`), so notices,
  appeals and scores pick it up unchanged. An inspector confirms a flag (with the amount
  recovered) or dismisses it (with the reason); a dismissed flag's card is cancelled like an
  appealed one. A flag that corrected data no longer fires is withdrawn, its card gone.
- a *timing* rule reports the domain's supervised steps (items with time limits: an approval
  step, a publication deadline) that the clock has lit red or yellow. Those items are already
  cards; the rule only names them in the domain's words, live, as of any time.

Functions never commit: the caller owns the transaction.
"""

from __future__ import annotations

import hashlib
import json
import re
import unicodedata
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from sqlalchemy import func, or_, select, update
from sqlalchemy.orm import Bundle, Session

from lib import audit
from lib.access import CurrentUser, require, scoped_unit
from lib.clock import now_utc
from lib.lights import RED, VERDICT_NONE, VERDICT_RED, VERDICT_YELLOW, YELLOW, epoch, light_of
from lib.models import AppSetting, Flag, Item, ItemEvent, Subsystem, Unit

SYSTEM_ACTOR = "系统（规则引擎）"
STATUS = {"open": "待核查", "confirmed": "核查属实", "dismissed": "核查排除", "withdrawn": "已撤回（数据更正后不再触发）"}
STANDING = STATUS | {"cancelled": "红牌经申诉撤销"}  # FlagView.stands
VERDICTS = {RED: VERDICT_RED, YELLOW: VERDICT_YELLOW}
CSV_COLUMNS = ["domain", "subject", "flag", "light", "amount", "reason"]
# A rule that fires on more than this share of its population is more likely mis-set than
# right: the page warns (the thresholds, or the data, need a look).
IMPLAUSIBLE_SHARE = 0.25


class FlagError(ValueError):
    """A refused action on a flag; the message is for the user, in Chinese."""


@dataclass(frozen=True)
class FlagRecord:
    """What a rule found about one subject (the one record every domain reports through)."""

    domain: str
    code: str
    subject: str  # the case's, tender's or payment's external id (a buyer's unit code, …)
    light: str  # red / yellow
    reason: str  # one sentence in Chinese, with the figures
    unit_id: int  # the responsible unit: whose card it is
    at: datetime  # when the line was crossed
    subsystem: str  # the subsystem code its card belongs to
    amount: float | None = None  # money at stake, yuan
    inputs: dict = field(default_factory=dict)
    thresholds: dict = field(default_factory=dict)
    region_id: int | None = None
    item_id: int | None = None  # timing rules: the item the clock lit

    def csv_row(self) -> list[str]:
        amount = "" if self.amount is None else f"{float(self.amount):.2f}"
        return [self.domain, self.subject, self.code, self.light, amount, self.reason]


@dataclass(frozen=True)
class Rule:
    domain: str
    code: str
    name: str  # short Chinese name, e.g. 单一投标
    fn: Callable[[RuleContext], Iterable[FlagRecord]]
    timing: bool  # lit by the clock through its own step items (not persisted)
    defaults: dict  # threshold name -> default value
    labels: dict  # threshold name -> Chinese label
    weight: float  # default weight in the risk queue

    @property
    def definition(self) -> str:
        """The docstring's lines joined: with a space between words, none where a line ends or
        begins in Chinese (a space there would split a Chinese phrase)."""
        lines = [ln.strip() for ln in (self.fn.__doc__ or "").splitlines() if ln.strip()]
        out = ""
        for ln in lines:
            if out and not (_cjk(out[-1]) or _cjk(ln[0])):
                out += " "
            out += " ".join(ln.split())
        return out

    def definition_with(self, thresholds: dict | None = None) -> str:
        """The definition as a reader sees it: each threshold's name (`payees`, `yellow_pp`)
        replaced by its value in force, the given thresholds' or else the defaults (至少 3 名,
        not 至少 payees 名)."""
        values = {k: v for k, v in {**self.defaults, **(thresholds or {})}.items()
                  if k in self.defaults}
        if not values:
            return self.definition
        names = "|".join(re.escape(k) for k in sorted(values, key=len, reverse=True))
        return re.sub(rf"(?<![A-Za-z0-9_])({names})(?![A-Za-z0-9_])",
                      lambda m: _number(values[m.group(1)]), self.definition)

    def value_text(self, name: str, value) -> str:
        """A threshold's value as a reader sees it: a fraction of one (`min_ratio`,
        `max_share`) in percent (0.7 → 70%), any other number as written in a sentence."""
        if name.endswith(RATIO_SUFFIXES):
            try:
                return f"{float(value) * 100:.4g}%"
            except (TypeError, ValueError):
                return str(value)
        return _number(value)


RATIO_SUFFIXES = ("_ratio", "_share")  # thresholds that are fractions of one: shown as percent


def _number(value) -> str:
    """A threshold as written in a sentence: 3, 1.5, 0.7 (no trailing .0)."""
    try:
        x = float(value)
    except (TypeError, ValueError):
        return str(value)
    return str(int(x)) if x.is_integer() else f"{x:g}"


def _cjk(ch: str) -> bool:
    """A Chinese character or a full-width punctuation mark."""
    return "\u3000" <= ch <= "\u9fff" or "\uff00" <= ch <= "\uffef"


RULES: dict[str, Rule] = {}


def rule(domain: str, code: str, name: str, *, timing: bool = False, weight: float = 1.0,
         labels: dict | None = None, **defaults):
    """Register a rule. Its docstring is its definition and source; keyword arguments are its
    thresholds' defaults (numbers), `labels` their Chinese names."""
    def register(fn):
        if code in RULES:
            raise ValueError(f"rule {code} registered twice")
        RULES[code] = Rule(domain, code, name, fn, timing, dict(defaults), dict(labels or {}),
                           weight)
        return fn
    return register


def load_rules() -> dict[str, Rule]:
    """Every domain's rules, registered by importing the domains' rule modules."""
    import lib.domains  # noqa: F401 - importing registers the rules

    return RULES


def rules_of(domain: str | None = None) -> list[Rule]:
    return [r for r in load_rules().values() if domain is None or r.domain == domain]


# -- thresholds --------------------------------------------------------------------------------

def _setting_key(code: str, name: str) -> str:
    return f"rule.{code}.{name}"


def thresholds(session: Session, r: Rule, found: dict[str, str] | None = None) -> dict:
    """The rule's thresholds: defaults, overridden by what administrators set. `found`: the
    settings already read (`_settings_of`), else they are read for this rule."""
    keys = {_setting_key(r.code, n): n for n in list(r.defaults) + ["weight"]}
    if found is None:
        found = _settings_of(session, [r])
    out = dict(r.defaults) | {"weight": r.weight}
    for key, name in keys.items():
        if key in found:
            out[name] = type(out[name])(float(found[key])) if isinstance(out[name], int) \
                else float(found[key])
    return out


def thresholds_of(session: Session, rules: Iterable[Rule]) -> dict[str, dict]:
    """`thresholds` of each rule by its code, the settings of all read at once."""
    rules = list(rules)
    found = _settings_of(session, rules)
    return {r.code: thresholds(session, r, found) for r in rules}


def weights_of(session: Session, codes: Iterable[str]) -> dict[str, float]:
    """Each rule's weight in the risk queue, by code (one read of the settings)."""
    return {code: float(t["weight"]) for code, t in
            thresholds_of(session, [RULES[c] for c in dict.fromkeys(codes)]).items()}


def _settings_of(session: Session, rules: list[Rule]) -> dict[str, str]:
    """The administrators' settings of these rules' thresholds, in one read."""
    keys = [_setting_key(r.code, n) for r in rules for n in [*r.defaults, "weight"]]
    if not keys:
        return {}
    return dict(session.execute(select(AppSetting.key, AppSetting.value)
                                .where(AppSetting.key.in_(keys))).all())


def set_threshold(session: Session, user: CurrentUser, code: str, name: str, value) -> None:
    """An administrator changes one threshold (or the rule's weight in the risk queue)."""
    require(user, "manage_settings")
    r = load_rules().get(code)
    if r is None:
        raise FlagError(f"未知规则“{code}”")
    if name != "weight" and name not in r.defaults:
        raise FlagError(f"规则 {code} 没有参数“{name}”")
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise FlagError(f"参数值必须是数字：“{value}”") from None
    if number < 0 or number != number:
        raise FlagError("参数值不能为负数")
    default = r.weight if name == "weight" else r.defaults[name]
    if isinstance(default, int) and not number.is_integer():
        raise FlagError(f"参数“{r.labels.get(name, name)}”必须是整数")
    key = _setting_key(code, name)
    row = session.get(AppSetting, key)
    before = row.value if row else None
    text = str(int(number)) if isinstance(default, int) else repr(number)
    if row is None:
        session.add(AppSetting(key=key, value=text))
    else:
        row.value = text
    audit.record(session, actor=user.username, action="rule.threshold", entity="rule",
                 entity_id=code, before={name: before}, after={name: text})


# -- evaluation --------------------------------------------------------------------------------

@dataclass
class RuleContext:
    """What a rule gets: the session, the moment, its thresholds, and a way to report."""

    session: Session
    as_of: datetime
    rule: Rule
    t: dict  # thresholds in force
    population: int | None = None  # how many subjects the rule looked at (for the warning)

    def flag(self, *, subject: str, light: str, reason: str, unit_id: int, at: datetime,
             subsystem: str, amount=None, inputs: dict | None = None,
             region_id: int | None = None, item_id: int | None = None,
             used: Iterable[str] | None = None) -> FlagRecord:
        """A finding of this rule; `used` names the thresholds it applied (default: all)."""
        names = list(used) if used is not None else list(self.rule.defaults)
        return FlagRecord(
            domain=self.rule.domain, code=self.rule.code, subject=str(subject)[:64],
            light=light, reason=reason, unit_id=unit_id, at=at, subsystem=subsystem,
            amount=None if amount is None else round(float(amount), 2),
            inputs=dict(inputs or {}), thresholds={n: self.t[n] for n in names},
            region_id=region_id, item_id=item_id)


@dataclass
class Evaluation:
    records: list[FlagRecord]
    populations: dict[str, int | None]  # rule code -> subjects looked at

    def warnings(self) -> list[str]:
        """Rules firing on an implausible share of their population (thresholds to check)."""
        fired: dict[str, set] = {}
        for r in self.records:
            fired.setdefault(r.code, set()).add(r.subject)
        out = []
        for code, subjects in sorted(fired.items()):
            n = self.populations.get(code)
            if n and n >= 10 and len(subjects) / n > IMPLAUSIBLE_SHARE:
                name = RULES[code].name
                out.append(f"规则 {code}（{name}）在 {n} 个对象中触发 {len(subjects)} 个"
                           f"（{len(subjects) / n:.0%}），比例异常偏高，请核对阈值或数据质量")
        return out


def evaluate(session: Session, *, domain: str | None = None, as_of: datetime | None = None,
             timing: bool | None = None, codes: Iterable[str] | None = None) -> Evaluation:
    """Run the rules (of one domain, or all) as of a time; nothing is written."""
    as_of = as_of or now_utc()
    wanted = set(codes) if codes is not None else None
    records: list[FlagRecord] = []
    populations: dict[str, int | None] = {}
    chosen = [r for r in rules_of(domain)
              if (timing is None or r.timing == timing) and (wanted is None or r.code in wanted)]
    settings = _settings_of(session, chosen)  # every rule's thresholds in one read
    for r in chosen:
        ctx = RuleContext(session, as_of, r, thresholds(session, r, settings))
        found = list(r.fn(ctx))
        records.extend(found)
        populations[r.code] = ctx.population
    records.sort(key=lambda f: (f.domain, f.code, f.subject))
    return Evaluation(records, populations)


def item_timing() -> Bundle:
    """The item's columns a timing rule reads (its light, the light's why, where it belongs), as
    one bundle: the rows load as plain rows, without building an ORM object per item (thousands
    of them on every domain page)."""
    return Bundle("item", Item.id, Item.external_id, Item.title, Item.unit_id, Item.region_id,
                  Item.received_at, Item.deadline, Item.completed_at, Item.card_cancelled,
                  Item.verdict)


def may_be_lit(as_of: datetime):
    """Items that can be lit red or yellow at T: open then, done late, or carrying a rule's
    verdict. An item done on time without a verdict is green (`lib.lights`), so a timing rule
    need not load the thousands of them."""
    return or_(Item.completed_at.is_(None), Item.completed_at > as_of,
               Item.completed_at > Item.deadline, Item.verdict != 0)


def lit_rows(ctx: RuleContext, stmt) -> tuple[list, int]:
    """A timing rule's rows (`stmt`: items received by T, `item_timing()` first) that can be
    lit at T, and how many items the rule watched (its population)."""
    population = ctx.session.scalar(select(func.count()).select_from(stmt.subquery()))
    return ctx.session.execute(stmt.where(may_be_lit(ctx.as_of))).all(), int(population or 0)


def timing_records(ctx: RuleContext, rows, *, subject, reason=None,
                   population: int | None = None, renamed: dict[str, str] | None = None
                   ) -> list[FlagRecord]:
    """A timing rule's findings: the given step items (rows of (Item, yellow_pct, …)) that the
    clock has lit red or yellow as of `ctx.as_of`, named by `subject(row)`; `reason(row, light)`
    may word the finding in the domain's terms (default: the engine's own reason); `renamed`:
    inputs under the domain's own name (a village obligation's received_at is its period's
    end, not a receipt: {"received_at": "period_end"})."""
    out = []
    n = 0
    for row in rows:
        item, pct = row[0], row[1]
        lt = light_of(item, ctx.as_of, pct)
        if lt is None:
            continue
        n += 1
        if lt.light not in (RED, YELLOW):
            continue
        out.append(ctx.flag(
            subject=subject(row), light=lt.light,
            reason=reason(row, lt) if reason else lt.reason, unit_id=item.unit_id,
            at=item.deadline, subsystem="", region_id=item.region_id, item_id=item.id,
            inputs={renamed.get(k, k): v for k, v in lt.inputs.items()} if renamed else lt.inputs))
    ctx.population = n if population is None else population
    return out


# -- persisting verdicts as cards --------------------------------------------------------------

def finding_of_item(session: Session, item_id: int) -> tuple[str, str] | None:
    """(rule code, rule name) when the item is a rule's finding (its card: found, judged and
    closed at one moment, no time limit of its own), else None."""
    code = session.scalar(select(Flag.code).where(Flag.item_id == item_id).limit(1))
    if code is None:
        return None
    rule = RULES.get(code)
    return code, rule.name if rule else code


def _external_id(code: str, subject: str) -> str:
    ext = f"F.{code}.{subject}"
    if len(ext) <= 64:
        return ext
    digest = hashlib.sha1(subject.encode("utf-8")).hexdigest()[:12]
    return f"F.{code}.{subject[:64 - len(code) - 16]}~{digest}"


def _json(value: dict) -> str:
    return json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)


def _title(r: FlagRecord) -> str:
    return f"{RULES[r.code].name}：{r.reason}"[:200]


def _region_of(session: Session, r: FlagRecord, cache: dict) -> int | None:
    if r.region_id is not None:
        return r.region_id
    if not cache:
        cache.update(dict(session.execute(
            select(Unit.id, Unit.region_id).where(Unit.level == "county")).all()))
    return cache.get(r.unit_id)


@dataclass(frozen=True)
class RefreshResult:
    new: int
    updated: int
    withdrawn: int
    reopened: int

    def __str__(self) -> str:
        return (f"新发现 {self.new} 条，更新 {self.updated} 条，撤回 {self.withdrawn} 条，"
                f"重新触发 {self.reopened} 条")


def refresh(session: Session, *, domain: str | None = None, now: datetime | None = None,
            actor: str = SYSTEM_ACTOR, codes: Iterable[str] | None = None) -> RefreshResult:
    """Evaluate the verdict rules now and bring the flags and their cards in line: a new finding
    becomes a flag and a card; a finding that changed is updated (its card too); an open flag no
    longer found is withdrawn and its card gone. Decided flags (confirmed, dismissed) keep their
    decision. Idempotent: a second run with the same data changes nothing."""
    now = now or now_utc()
    ev = evaluate(session, domain=domain, as_of=now, timing=False, codes=codes)
    evaluated = {r.code for r in rules_of(domain) if not r.timing
                 and (codes is None or r.code in set(codes))}
    if not evaluated:
        return RefreshResult(0, 0, 0, 0)
    subsystems = dict(session.execute(select(Subsystem.code, Subsystem.id)).all())
    existing = {(f.code, f.subject): f for f in session.scalars(
        select(Flag).where(Flag.code.in_(evaluated)))}
    region_cache: dict = {}
    found = set()
    new = updated = reopened = withdrawn = 0
    created_ids = []
    for r in ev.records:
        key = (r.code, r.subject)
        if key in found:
            continue  # a rule reporting a subject twice: the first finding stands
        found.add(key)
        if r.subsystem not in subsystems:
            raise ValueError(f"rule {r.code} names unknown subsystem {r.subsystem!r}")
        verdict = VERDICTS[r.light]
        flag = existing.get(key)
        if flag is None:
            item = Item(external_id=_external_id(r.code, r.subject),
                        subsystem_id=subsystems[r.subsystem], unit_id=r.unit_id,
                        region_id=_region_of(session, r, region_cache), title=_title(r),
                        received_at=r.at, deadline=r.at, completed_at=r.at, state="completed",
                        updated_at=now, verdict=verdict)
            session.add(item)
            session.flush()
            session.add(ItemEvent(item_id=item.id, at=now, kind="flagged", from_state=None,
                                  to_state="completed", actor=actor,
                                  note=f"规则 {r.code} 判定{'红' if verdict == 2 else '黄'}牌：{r.reason}"[:2000]))
            flag = Flag(domain=r.domain, code=r.code, subject=r.subject, item_id=item.id,
                        unit_id=r.unit_id, light=r.light, amount=_money(r.amount),
                        reason=r.reason, inputs=_json(r.inputs), thresholds=_json(r.thresholds),
                        at=r.at, first_seen=now, last_seen=now, status="open")
            session.add(flag)
            new += 1
            created_ids.append(item.external_id)
            continue
        item = session.get(Item, flag.item_id)
        changed = (flag.light != r.light or flag.reason != r.reason
                   or _money(flag.amount) != _money(r.amount) or flag.unit_id != r.unit_id
                   or epoch(flag.at) != epoch(r.at) or flag.inputs != _json(r.inputs)
                   or flag.thresholds != _json(r.thresholds))
        flag.last_seen = now
        if flag.status == "withdrawn":
            flag.status = "open"
            reopened += 1
            changed = True
        if not changed:
            continue
        flag.light, flag.reason, flag.amount = r.light, r.reason, _money(r.amount)
        flag.inputs, flag.thresholds, flag.unit_id, flag.at = (
            _json(r.inputs), _json(r.thresholds), r.unit_id, r.at)
        item.verdict, item.title, item.unit_id = verdict, _title(r), r.unit_id
        item.received_at = item.deadline = item.completed_at = r.at
        item.state, item.updated_at = "completed", now
        session.add(ItemEvent(item_id=item.id, at=now, kind="updated", from_state="completed",
                              to_state="completed", actor=actor,
                              note=f"规则 {r.code} 重新判定：{r.reason}"[:2000]))
        updated += 1
    for key, flag in existing.items():
        if key in found or flag.status != "open":
            continue
        flag.status = "withdrawn"
        item = session.get(Item, flag.item_id)
        item.verdict, item.updated_at = VERDICT_NONE, now
        session.add(ItemEvent(item_id=item.id, at=now, kind="withdrawn", from_state="completed",
                              to_state="completed", actor=actor,
                              note=f"规则 {flag.code} 不再触发（数据已更正），撤回"))
        withdrawn += 1
    result = RefreshResult(new, updated, withdrawn, reopened)
    if new or updated or withdrawn or reopened:
        audit.record(session, actor=actor, action="flags.refresh", entity="flags",
                     entity_id=domain or "ALL",
                     after={"new": new, "updated": updated, "withdrawn": withdrawn,
                            "reopened": reopened, "first_new": created_ids[:20]})
    return result


def _money(value) -> Decimal | None:
    return None if value is None else Decimal(str(round(float(value), 2)))


REFRESH_KEY = "last_flag_refresh"
REFRESH_INTERVAL = 600  # seconds: the sweep re-evaluates every domain's rules this often


def refresh_if_due(session: Session, now: datetime | None = None) -> RefreshResult | None:
    """The sweep's trigger: re-evaluate all verdict rules at most every REFRESH_INTERVAL (rules
    that read the calendar or the registers change without a domain write)."""
    from lib.notices import claim_interval

    now = now or now_utc()
    if not claim_interval(session, REFRESH_KEY, now, REFRESH_INTERVAL):
        return None
    from lib import domains

    domains.run_due(session, now)  # the obligations the calendar alone brings due
    return refresh(session, now=now)


# -- reading and deciding ----------------------------------------------------------------------

@dataclass(frozen=True)
class FlagView:
    id: int
    domain: str
    code: str
    rule: str
    subject: str
    unit_id: int
    unit: str
    light: str
    amount: float | None
    reason: str
    inputs: dict
    thresholds: dict
    at: datetime
    status: str
    cancelled: bool
    item_id: int
    external_id: str
    decided_by: str | None
    decision_note: str | None
    recovered: float | None

    @property
    def stands(self) -> str:
        """Where the finding stands: its status, or "cancelled" for a card cancelled on appeal
        (a finding still open or confirmed whose card is gone waits for no check)."""
        return "cancelled" if self.cancelled and self.status in ("open", "confirmed") else self.status

    @property
    def status_label(self) -> str:
        return STANDING[self.stands]

    @property
    def standing(self) -> bool:
        """Still a card: not dismissed, withdrawn or cancelled on appeal."""
        return self.status in ("open", "confirmed") and not self.cancelled


def listing(session: Session, user: CurrentUser, *, domain: str | None = None,
            statuses: Iterable[str] | None = None, unit_id: int | None = None,
            subject: str | None = None, as_of: datetime | None = None) -> list[FlagView]:
    """Persisted flags the user may see (staff: their unit's), newest first."""
    require(user, "view_items")
    unit_id = scoped_unit(user, unit_id)
    load_rules()
    stmt = (select(Flag, Unit.name, Item.card_cancelled, Item.external_id)
            .join(Unit, Unit.id == Flag.unit_id).join(Item, Item.id == Flag.item_id)
            .order_by(Flag.at.desc(), Flag.id.desc()))
    if domain:
        stmt = stmt.where(Flag.domain == domain)
    if statuses:
        stmt = stmt.where(Flag.status.in_(list(statuses)))
    if unit_id is not None:
        stmt = stmt.where(Flag.unit_id == unit_id)
    if subject:
        stmt = stmt.where(Flag.subject == subject)
    if as_of is not None:
        stmt = stmt.where(Flag.at <= as_of)
    return [_view(f, name, cancelled, ext) for f, name, cancelled, ext in session.execute(stmt)]


def _view(f: Flag, unit: str, cancelled: bool, ext: str) -> FlagView:
    r = RULES.get(f.code)
    return FlagView(f.id, f.domain, f.code, r.name if r else f.code, f.subject, f.unit_id, unit,
                    f.light, None if f.amount is None else float(f.amount), f.reason,
                    json.loads(f.inputs), json.loads(f.thresholds), f.at, f.status,
                    bool(cancelled), f.item_id, ext, f.decided_by, f.decision_note,
                    None if f.recovered is None else float(f.recovered))


_AMOUNT = re.compile(r"(\d+(?:\.\d*)?|\.\d+)")


def recovered_amount(text_, at_stake=None, *, beyond_ok: bool = False) -> Decimal:
    """The amount recovered as typed (12,345.60 / ¥12345.6 / 12345.6 元 / full-width digits),
    in cents; a FlagError in words for what is not an amount (NaN, Infinity, 1e3, text), a
    negative one, one with more than two decimals or beyond 1 trillion yuan, and one beyond the
    finding's amount at stake unless `beyond_ok` (a slip of the keyboard — 99999999999 on a
    230-yuan payment — or, once checked, a whole payment recovered where the rule's amount is
    the part above a standard)."""
    raw = unicodedata.normalize("NFKC", str(text_)).strip()
    cleaned = raw.replace(",", "").replace(" ", "").removeprefix("¥").removesuffix("元")
    if cleaned.startswith("-") and _AMOUNT.fullmatch(cleaned[1:]):
        raise FlagError("追回金额不能为负数")
    if not _AMOUNT.fullmatch(cleaned.removeprefix("+")) or len(cleaned) > 20:
        raise FlagError(f"追回金额无效：“{text_}”，请填写金额数字，如 1200.50")
    amount = Decimal(cleaned.removeprefix("+"))
    if amount != amount.quantize(Decimal("0.01")):
        raise FlagError(f"追回金额最多两位小数（到分）：“{text_}”")
    amount = amount.quantize(Decimal("0.01"))
    if amount > MAX_RECOVERED:
        raise FlagError(f"追回金额 {amount:,.2f} 元超出可登记范围（不超过 {MAX_RECOVERED:,.2f} 元），请核对")
    stake = None if at_stake is None else Decimal(str(at_stake)).quantize(Decimal("0.01"))
    if stake is not None and stake > 0 and amount > stake and not beyond_ok:
        raise FlagError(f"追回金额 {amount:,.2f} 元超过该条发现涉及金额 {stake:,.2f} 元：请核对；"
                        "如确属实（如整笔追回），请勾选“追回金额超过涉及金额，已核对”后再提交")
    return amount


MAX_RECOVERED = Decimal("1000000000000.00")  # 1 trillion yuan: beyond any finding


def decide(session: Session, user: CurrentUser, flag_id: int, *, confirm: bool, note: str,
           recovered=None, beyond_ok: bool = False, now: datetime | None = None) -> Flag:
    """An inspector concludes on a flag: confirmed (with the amount recovered, if any) or
    dismissed (the reason required). A dismissed flag's card is cancelled: it leaves the scores
    and the cockpit like a card cancelled on appeal, while the flag and decision stay."""
    require(user, "review_flags")
    now = now or now_utc()
    flag = session.get(Flag, flag_id)
    if flag is None:
        raise FlagError("该规则发现不存在")
    if flag.status != "open":
        raise FlagError(f"该发现已{STATUS[flag.status]}，不能再次核查")
    item = session.get(Item, flag.item_id)
    if item.card_cancelled:
        raise FlagError("该发现的红黄牌已经申诉撤销，无需核查")
    note = (note or "").strip()
    if not confirm and len(note) < 5:
        raise FlagError("排除须写明理由（至少 5 个字）")
    if len(note) > 1000:
        raise FlagError("核查意见不能超过 1000 字")
    typed = "" if recovered is None else str(recovered).strip()
    amount = recovered_amount(typed, flag.amount, beyond_ok=beyond_ok) if typed else None
    if amount is not None and not confirm:
        raise FlagError("排除的发现不能登记追回金额")
    before = {"status": flag.status}
    # Only an open flag is concluded, checked in the write itself: of two inspectors concluding
    # at once, the second finds it no longer open (PostgreSQL re-reads the row it waited for).
    done = session.execute(update(Flag).where(Flag.id == flag.id, Flag.status == "open").values(
        status="confirmed" if confirm else "dismissed", decided_by=user.username, decided_at=now,
        decision_note=note or None, recovered=amount).execution_options(synchronize_session=False))
    if done.rowcount != 1:
        raise FlagError("该发现刚由他人核查，请刷新页面查看结论")
    session.refresh(flag)
    if not confirm:
        item.card_cancelled = True
        item.updated_at = now
    session.add(ItemEvent(item_id=item.id, at=now, kind="flag_confirmed" if confirm else
                          "flag_dismissed", from_state=item.state, to_state=item.state,
                          actor=user.username,
                          note=("核查属实" if confirm else "核查排除") + (f"：{note}" if note else "")))
    audit.record(session, actor=user.username, action="flag.decide", entity="flag",
                 entity_id=f"{flag.code}:{flag.subject}", before=before,
                 after={"status": flag.status, "note": note,
                        "recovered": None if amount is None else str(amount)})
    return flag


@dataclass(frozen=True)
class RiskRow:
    subject: str
    unit_id: int
    score: float
    bucket: str  # high / medium / low
    codes: tuple[str, ...]
    amount: float


BUCKETS = {"high": "高风险", "medium": "中风险", "low": "低风险"}


def risk_queue(session: Session, records: Iterable[FlagRecord], *, high: float = 3.0,
               medium: float = 1.5, weights: dict[str, float] | None = None) -> list[RiskRow]:
    """DOZORRO's weighted risk: per subject, the sum of the weights of the rules that fired
    (weights configurable per rule); high / medium / low buckets; riskiest first. `weights`:
    the rules' weights by code when the caller has read them (`weights_of`)."""
    records = list(records)
    if weights is None:
        weights = weights_of(session, (r.code for r in records))
    acc: dict[str, dict] = {}
    for r in records:
        a = acc.setdefault(r.subject, {"unit_id": r.unit_id, "score": 0.0, "codes": [],
                                       "amount": 0.0})
        if r.code in a["codes"]:
            continue
        a["score"] += weights[r.code]
        a["codes"].append(r.code)
        a["amount"] += float(r.amount or 0)
    out = []
    for subject, a in acc.items():
        bucket = "high" if a["score"] >= high else "medium" if a["score"] >= medium else "low"
        out.append(RiskRow(subject, a["unit_id"], round(a["score"], 2), bucket,
                           tuple(sorted(a["codes"])), round(a["amount"], 2)))
    out.sort(key=lambda x: (-x.score, -x.amount, x.subject))
    return out
