"""mart.top_spells rebuilt from since_week on equals a full build, on made-up entity_week rows that
reach what the weekly fixture may not: spells running across since_week from far back, ending the
week before it, cut or joined by a restated week, next to missing weeks, entities leaving."""

import datetime as dt
import random

import duckdb
import pytest

from assets.marts import MartParams, build_mart, prepare_marts, stale_predicate

W0 = dt.date(2024, 1, 1)  # a Monday
PARAMS = MartParams(top_ns=(1, 2))


def week(i: int) -> dt.date:
    return W0 + dt.timedelta(weeks=i)


def rows(weeks: list[str | None], first: int = 0) -> list[tuple]:
    """entity_week rows of weeks[first:]: a week is its entities in rank order (one letter each) at
    model level, the reverse order at author level; None is a week without data."""
    out = []
    for i, ranking in enumerate(weeks[first:], first):
        if ranking is not None:
            wk = (week(i) - dt.date(2000, 1, 3)).days // 7
            for level, order in (("model", ranking), ("author", ranking[::-1])):
                out += [(week(i), wk, level, entity, rank) for rank, entity in enumerate(order, 1)]
    return out


def incremental_vs_full(before: list[str | None], after: list[str | None], since: int) -> dict:
    """Full build on `before`; then the weeks from `since` on become `after`'s (as entity_week's own
    incremental build replaces them) and top_spells is rebuilt from week `since` on."""
    pad = [None] * since  # weeks past the end have no data
    assert (before + pad)[:since] == (after + pad)[:since], "weeks before since_week do not change"
    conn = duckdb.connect()
    conn.execute("create schema mart")
    conn.execute("create table mart.entity_week (week_start date, wk bigint, level varchar, "
                 "entity_id varchar, rank integer)")

    def insert(new: list[tuple]) -> None:
        if new:
            conn.executemany("insert into mart.entity_week values (?, ?, ?, ?, ?)", new)

    insert(rows(before))
    prepare_marts(conn, PARAMS)
    build_mart(conn, "top_spells")
    conn.execute("delete from mart.entity_week where week_start >= ?", [week(since)])
    insert(rows(after, since))
    conn.execute("set variable since_week = ?::date", [week(since)])
    stale = conn.execute(f"select count(*) from mart.top_spells where {stale_predicate('top_spells')}"
                         ).fetchall()[0][0]
    build_mart(conn, "top_spells", week(since))
    conn.execute("create table inc as from mart.top_spells")
    build_mart(conn, "top_spells")
    differ = conn.execute("select (select count(*) from (from inc except all from mart.top_spells)) "
                          "+ (select count(*) from (from mart.top_spells except all from inc))").fetchall()[0][0]
    spells = conn.execute("select top_n, entity_id, spell_start, length_weeks, left_censored, right_censored "
                          "from mart.top_spells where level = 'model' order by all").fetchall()
    return {"differ": differ, "stale": stale, "spells": spells}


CASES = {
    # name: (before, after, since)
    "a spell runs on across since_week from the first week": (
        ["AB"] * 9, ["AB"] * 10, 8),
    "a spell that ended the week before since_week goes on": (
        ["AB", "BA", "BA", "BA", "AB"], ["AB", "BA", "BA", "BA", "BA", "BA"], 4),
    "a restated week ends a spell the week before since_week": (
        ["BA", "BA", "BA", "BA", "BA"], ["BA", "BA", "BA", "BA", "AB"], 4),
    "a restated week ends a spell just after since_week": (
        ["BA"] * 6, ["BA", "BA", "BA", "BA", "BA", "AB"], 4),
    "a week that had no data arrives and joins two spells": (
        ["AB", "AB", None, "AB", "AB"], ["AB", "AB", "AB", "AB", "AB"], 2),
    "a week becomes missing and splits a spell": (
        ["AB"] * 6, ["AB", "AB", "AB", None, "AB", "AB"], 3),
    "a missing week before since_week: censored on both sides": (
        ["CA", "AC", None, "AB"], ["CA", "AC", None, "AB", "AB"], 3),
    "an entity leaves the list: the week before its spell is not a member week": (
        ["AB", "A", "CA", "CA", "CA", "CA"], ["AB", "A", "CA", "CA", "CA", "AC", "B"], 5),
    "a spell of a lower entity behind a gap of non-membership": (
        ["AB", "AC", "AB", "AB", "AB"], ["AB", "AC", "AB", "AB", "AB", "AB"], 4),
    "weeks removed at the end": (
        ["AB"] * 6, ["AB"] * 4, 4),
    "since_week after the last week, with a missing week before it": (
        ["AB", "AB", "AB"], ["AB", "AB", "AB", None, "BA"], 4),
}


@pytest.mark.parametrize("name", CASES)
def test_incremental_top_spells_equal_a_full_build(name):
    before, after, since = CASES[name]
    result = incremental_vs_full(before, after, since)
    assert result["differ"] == 0, f"{name}: {result}"


def test_the_cases_reach_what_they_are_named_for():
    """Guards the cases above against edits that make them trivial."""
    # traced back to the first week: one spell of 10 weeks, left-censored, right-censored
    spells = incremental_vs_full(*CASES["a spell runs on across since_week from the first week"])["spells"]
    assert (1, "A", week(0), 10, True, True) in spells
    # B's spell ended in week 3, the week before since_week, and now runs on to week 5
    spells = incremental_vs_full(*CASES["a spell that ended the week before since_week goes on"])["spells"]
    assert (1, "B", week(1), 5, False, True) in spells
    # the new week 2 joins A's two spells of 2 weeks into one of 5
    spells = incremental_vs_full(*CASES["a week that had no data arrives and joins two spells"])["spells"]
    assert (1, "A", week(0), 5, True, True) in spells
    # C is not listed in week 1, so its spells start in week 2 and are not left-censored; it leads
    # to week 4, the week before since_week, and stays in the top 2 to week 5
    spells = incremental_vs_full(*CASES["an entity leaves the list: the week before its spell is not a member week"]
                                 )["spells"]
    assert (1, "C", week(2), 3, False, False) in spells and (2, "C", week(2), 4, False, False) in spells


def test_random_restatements_equal_a_full_build():
    """Random lists of up to 4 entities, missing weeks, and restatements from a random week on."""
    rng = random.Random(6)
    checked = stale = 0

    def history(n: int) -> list[str | None]:
        return [None if rng.random() < 0.1 else "".join(rng.sample("ABCD", rng.randint(1, 4)))
                for _ in range(n)]

    for _ in range(150):
        before = history(rng.randint(1, 14))
        since = rng.randint(1, len(before) + 1)
        kept = (before + [None])[:since]  # since_week may be the week after a missing last week
        after = kept + (history(rng.randint(0, 4)) if rng.random() < 0.5
                        else before[since:] + history(rng.randint(1, 3)))
        if not any(after):
            continue
        result = incremental_vs_full(before, after, since)
        assert result["differ"] == 0, (before, after, since, result)
        checked += 1
        stale += result["stale"] > 0
    assert checked > 100 and stale > 50
