"""Promise 8: after runs that fail in every way a source can make them fail (401, 400, a 429
storm, a bad payload) and a run that succeeds, the API key appears nowhere: not in logs, errors,
Dagster's event log and run storage, raw files, any text column of the warehouse, the reports,
or what the CLI prints. The stand-in echoes the key back in its error messages, as a careless
proxy might; the client must redact it."""

import gzip
import json
import logging

import dagster as dg
import duckdb

from assets.report import write_report
from assets.settings import raw_dir_for, reports_dir_for
from tests.reliability.conftest import SECRET, failure_text, run_job

RANKINGS = "datasets/rankings-daily"
WEEKS = ("2026-11-02", "2026-11-09")
KEY = SECRET.encode()


def _echo(status: int) -> bytes:
    return json.dumps({"error": {"code": status, "message": f"key {SECRET} rejected"}}).encode()


def _files_with_key(folder) -> list[str]:
    found = []
    for path in folder.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            if path.name.endswith(".gz"):
                data = gzip.decompress(data)
            if KEY in data:
                found.append(str(path))
    return found


def _columns_with_key(db) -> list[str]:
    with duckdb.connect(str(db), read_only=True) as conn:
        columns = conn.execute("select schema_name, table_name, column_name from duckdb_columns() "
                               "where data_type = 'VARCHAR' and schema_name in ('raw', 'core', 'mart')").fetchall()
        assert columns
        return [f"{s}.{t}.{c}" for s, t, c in columns
                if conn.execute(f'select count(*) from "{s}"."{t}" where contains("{c}", ?)', [SECRET]).fetchall()[0][0]]


def test_the_key_appears_nowhere_after_failed_and_successful_runs(api, cli, tmp_path, caplog, capfd):
    sim, url = api
    caplog.set_level(logging.DEBUG)
    db, home = tmp_path / "data" / "w.duckdb", tmp_path / "instance"
    home.mkdir()
    failures = {
        "401": lambda: sim.inject(status=401, body=_echo(401), path=RANKINGS),
        "400": lambda: (sim.inject(path=RANKINGS), sim.inject(status=400, body=_echo(400), path=RANKINGS)),
        "429 storm": lambda: sim.inject(status=429, body=_echo(429), headers={"Retry-After": "0"}, times=7,
                                        path=RANKINGS),
        "bad payload": lambda: sim.inject(body=b"<html>upstream error</html>", path=RANKINGS),
    }
    texts = []
    with dg.instance_for_test(temp_dir=str(home)) as inst:
        for name, inject in failures.items():
            inject()
            result = run_job(db, url, *WEEKS, instance=inst)
            assert not result.success, name
            texts.append(failure_text(result))
        result = run_job(db, url, *WEEKS, instance=inst)
        assert result.success, failure_text(result)
    assert "OpenRouter refused the API key (401: key *** rejected)" in texts[0]     # echoed, and redacted
    assert "rejected the parameters (400: key *** rejected)" in texts[1]
    assert "HTTP 429: key *** rejected" in texts[2]
    write_report(db)

    sim.inject(status=401, body=_echo(401), path=RANKINGS)
    shown = cli.run("backfill", "--start", WEEKS[0], "--end", WEEKS[1], "--db", str(tmp_path / "cli" / "w.duckdb"),
                    env=cli.env(TOKENTIDE_LOG_LEVEL="DEBUG"))
    assert shown.returncode == 1 and "refused the API key" in shown.stderr

    out, err = capfd.readouterr()
    assert SECRET not in caplog.text + out + err, "in captured logs"
    assert not any(SECRET in text for text in texts), "in an exception"
    assert SECRET not in shown.stdout + shown.stderr, "in what the CLI printed"
    assert _files_with_key(home) == [] and _files_with_key(cli.home) == [], "in Dagster's storage"
    assert _files_with_key(raw_dir_for(db)) == [], "in a raw file"
    assert _columns_with_key(db) == [], "in the warehouse"
    assert _files_with_key(reports_dir_for(db)) == [] and list(reports_dir_for(db).rglob("brief.md"))
