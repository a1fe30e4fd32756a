"""Promise 3: permaslugs and names with quotes, semicolons, `../`, control characters, unicode
and 10 kB lengths are data: stored exactly, never executed as SQL, never used as a file path.

A real run lands a weekly answer whose slugs are hostile and a catalogue whose ids and names
are, then builds core and every mart on them. (Control characters and spaces are not a valid
permaslug, so they are refused at validation: see test_bad_payloads; in names they are data.)"""

import json
import re

import duckdb
import httpx

from tests.reliability.conftest import SECRET, failure_text, run_job

# a slug has no whitespace (sources.md), so the SQL in them uses comments for spaces
SLUGS = ["evil/';drop/**/table/**/raw.pulls;--", 'evil/"quoted";select/**/1', "evil/../../../../etc/passwd",
         "evil/模型-ß-ü-🙂", "evil/" + "x" * 10_000]
NAMES = ["Robert'); drop table core.models;--", "bell\x07 escape\x1b[31m nul-free\ttab\nnewline",
         "../../../tmp/owned", "名前 🙂", "n" * 10_000]
RANKINGS = "datasets/rankings-daily"
FIRST, LAST = "2026-11-02", "2026-11-09"


def _get(url: str, path: str, **params) -> dict:
    return httpx.get(f"{url}/{path}", params=params, headers={"authorization": f"Bearer {SECRET}"}).json()


def test_hostile_slugs_and_names_are_stored_as_data(api, tmp_path):
    sim, url = api
    weekly = _get(url, RANKINGS, start_date=FIRST, end_date="2026-11-15", period="week")
    first_week = [row for row in weekly["data"] if row["date"] == FIRST]
    for row, slug in zip(first_week[2:], SLUGS, strict=False):    # ranks 3..7 become hostile, tokens unchanged
        row["model_permaslug"] = slug
    catalogue = _get(url, "models", output_modalities="all")
    catalogue["data"] += [{"id": slug, "canonical_slug": slug, "name": name, "created": 1767225600}
                          for slug, name in zip(SLUGS, NAMES, strict=True)]
    sim.inject(body=json.dumps(weekly).encode(), path=RANKINGS)
    sim.inject(body=json.dumps(catalogue).encode(), path="models")

    db = tmp_path / "data" / "w.duckdb"
    result = run_job(db, url, FIRST, LAST)
    assert result.success, failure_text(result)

    with duckdb.connect(str(db), read_only=True) as conn:
        def values(sql):
            return sorted(v for (v,) in conn.execute(sql).fetchall())
        assert values(f"select model_permaslug from raw.rankings where period = 'week' and segment_type = 'all' "
                      f"and bucket_date = '{FIRST}' and model_permaslug like 'evil/%'") == sorted(SLUGS)
        assert values(f"select model_permaslug from core.model_week where week_start = '{FIRST}' "
                      "and model_permaslug like 'evil/%'") == sorted(SLUGS)
        assert values("select name from core.models where model_id like 'evil/%'") == sorted(NAMES)
        assert values(f"select model_permaslug from mart.leaderboard where week_start = '{FIRST}' "
                      "and model_permaslug like 'evil/%'") == sorted(SLUGS)
        # nothing was executed: every table is still there and raw.pulls still has its rows
        tables = values("select schema_name || '.' || table_name from duckdb_tables()")
        assert {"raw.pulls", "core.models", "mart.growth"} <= set(tables)
        assert conn.execute("select count(*) from raw.pulls").fetchall()[0][0] == 20

    # nothing was used as a path: every file is one tokentide names itself
    allowed = re.compile(r"^(w\.duckdb(\.lock)?|origin|manifest\.jsonl|landed\.jsonl|[0-9a-f-]{36}\.json|"
                         r"[0-9a-f]{64}\.json\.gz)$")
    files = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert files and all(allowed.match(p.name) for p in files), [p.name for p in files if not allowed.match(p.name)]
    assert not any(p.name in ("passwd", "owned") for p in tmp_path.parent.rglob("*"))
