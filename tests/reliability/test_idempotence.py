"""Promise 7: the same backfill twice changes nothing; a restated week adds exactly one version;
`tokentide rebuild` from data/raw/ alone reproduces the warehouse exactly (every table checksum,
fetch times included)."""

import duckdb

from tests.reliability.conftest import RUN, checksums, failure_text, run_job

VERSIONS = """select bucket_date::varchar, count(distinct pull_id) from raw.rankings
              where period = 'week' and segment_type = 'all' group by 1 order by 1"""


def _query(db, sql):
    with duckdb.connect(str(db), read_only=True) as conn:
        return conn.execute(sql).fetchall()


def test_repeat_restate_and_rebuild(api, cli, start_db):
    sim, url = api
    assert run_job(start_db, url, *RUN).success
    once = checksums(start_db, comparable=False)
    result = run_job(start_db, url, *RUN)
    assert result.success, failure_text(result)
    assert checksums(start_db, comparable=False) == once, "repeating the backfill changed the warehouse"

    before = dict(_query(start_db, VERSIONS))
    sim.revision = 1                                        # the source restates its last four weeks
    result = run_job(start_db, url, *RUN)
    assert result.success, failure_text(result)
    after = dict(_query(start_db, VERSIONS))
    restated = {week for week in after if after[week] != before.get(week)}
    assert restated == {"2026-11-02", "2026-11-09", "2026-11-16"}
    assert all(after[week] == before[week] + 1 for week in restated)   # exactly one new version each
    assert _query(start_db, """select sum(versions_added) from raw.pulls where period = 'week'
                               and segment_type = 'all' and as_of = (select max(as_of) from raw.rankings)""") == [(3,)]
    expected = checksums(start_db, comparable=False)

    rebuilt = cli.run("rebuild", "--db", str(start_db))
    assert rebuilt.returncode == 0, rebuilt.stderr
    assert checksums(start_db, comparable=False) == expected
    shown = cli.run("checksum", "--db", str(start_db))
    assert shown.returncode == 0, shown.stderr
    assert dict(line.split("\t") for line in shown.stdout.splitlines()) == expected
