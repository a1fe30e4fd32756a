"""Bad input is rejected at the edge with a message naming the row, field and bucket."""

import pytest

from assets.parse import PayloadError, parse_rankings
from assets.raw_store import RawStore
from tests.payloads import WEEK1, WEEK2, body, keep

WINDOW = {"start": "2026-05-04", "end": "2026-05-17"}


def parse(tmp_path, raw: bytes):
    store = RawStore(tmp_path / "raw")
    stored = keep(store, raw, **WINDOW)
    return parse_rankings(stored, store.read(stored), str(store.absolute(stored)))


def test_valid_weekly_body_parses_tokens_exactly(tmp_path):
    big = "9223372036854775807"  # the largest BIGINT: exact, no float on the way
    pull = parse(tmp_path, body(WEEK1 + WEEK2 + [("2026-05-11", "zeta/huge", big)], **WINDOW))
    assert pull.period == "week" and pull.segment_type == "all"
    assert pull.rows.height == 7
    assert pull.rows.filter(model_permaslug="zeta/huge")["tokens"].item() == int(big)
    assert str(pull.as_of) == "2026-05-19 02:00:00+00:00"


@pytest.mark.parametrize("bad_row, expected", [
    (("2026-05-11", "acme/x", "-5"), "row 4 (bucket 2026-05-11, model 'acme/x') field total_tokens: '-5'"),
    (("2026-05-11", "acme/x", "1.5"), "field total_tokens: '1.5'"),
    (("2026-05-11", "acme/x", "1e9"), "field total_tokens: '1e9'"),
    (("2026-05-11", "acme/x", "9223372036854775808"), "exceeds 64-bit range"),
    (("2026-05-12", "acme/x", "5"), "row 4 (bucket 2026-05-12, model 'acme/x') field date: weekly bucket "
                                    "does not start on a Monday"),
    (("2026-05-11", "beta/bolt:free", "5"), "duplicate (bucket, model)"),
    (("2026-05-11", "other", "5"), "duplicate (bucket, model)"),
    (("2026-05-25", "acme/x", "5"), "outside the window"),
    (("2026-02-30", "acme/x", "5"), "'2026-02-30' is not a real calendar date"),
    (("2026-05-11", "no slash here", "5"), "field model_permaslug"),
])
def test_bad_rows_are_named(tmp_path, bad_row, expected):
    with pytest.raises(PayloadError) as err:
        parse(tmp_path, body(WEEK1 + [bad_row] + WEEK2, **WINDOW))
    assert expected in str(err.value)
    assert "nothing landed" in str(err.value)
    assert "raw body kept at" in str(err.value)


def test_every_bad_row_is_reported_at_once(tmp_path):
    rows = WEEK1 + [("2026-05-11", "a/x", "-1"), ("2026-05-11", "a/y", "2.5"), ("2026-05-12", "a/z", "3")]
    with pytest.raises(PayloadError) as err:
        parse(tmp_path, body(rows, **WINDOW))
    assert len(err.value.problems) == 3
    assert {"row 4", "row 5", "row 6"} <= {p.split(" (")[0] for p in err.value.problems}


@pytest.mark.parametrize("raw, expected", [
    (b"<html><body>502 Bad Gateway</body></html>", "not valid JSON (looks like an HTML page)"),
    (body(WEEK1, **WINDOW)[:-40], "not valid JSON"),
    (body([], **WINDOW), "data: empty"),
    (b'{"data": [], "meta": null}', "meta: missing"),
    (body(WEEK1, start="2026-05-04", end="2026-05-24"), "meta.end_date 2026-05-24 is after the requested"),
    (body(WEEK1, **WINDOW, version="v2"), "meta.version"),
    (body(WEEK1, **WINDOW, as_of="yesterday"), "meta.as_of"),
])
def test_malformed_bodies_are_rejected(tmp_path, raw, expected):
    with pytest.raises(PayloadError) as err:
        parse(tmp_path, raw)
    assert expected in str(err.value)


def test_missing_and_extra_fields_are_named(tmp_path):
    import json
    doc = json.loads(body(WEEK1, **WINDOW))
    del doc["data"][0]["total_tokens"]
    doc["data"][1]["share"] = "0.2"
    doc["data"][2]["total_tokens"] = 500
    with pytest.raises(PayloadError) as err:
        parse(tmp_path, json.dumps(doc).encode())
    text = str(err.value)
    assert "row 1 (bucket 2026-05-04): missing field total_tokens" in text
    assert "row 2 (bucket 2026-05-04): unexpected field 'share'" in text
    assert "row 3 (bucket 2026-05-04) field total_tokens: expected a string, got int 500" in text


def test_hostile_slugs_are_data(tmp_path):
    slugs = ["evil/';drop_table_raw.pulls;--", 'evil/"quoted"', "evil/../../etc/passwd", "evil/模型-ß", "evil/" + "x" * 10_000]
    rows = [("2026-05-04", s, str(100 - i)) for i, s in enumerate(slugs)]
    pull = parse(tmp_path, body(rows, **WINDOW))
    assert pull.rows["model_permaslug"].to_list() == slugs


def test_control_characters_and_spaces_break_the_slug_shape(tmp_path):
    with pytest.raises(PayloadError) as err:
        parse(tmp_path, body([("2026-05-04", "evil/a\x00b", "1"), ("2026-05-04", "evil/a b", "1")], **WINDOW))
    assert len(err.value.problems) == 2


def test_a_batch_gives_each_pull_what_it_gets_alone(tmp_path, monkeypatch):
    import assets.parse
    from assets.parse import parse_rankings_batch

    store = RawStore(tmp_path / "raw")
    bodies = [body(WEEK1 + WEEK2, **WINDOW),                                     # good
              body(WEEK1 + [("2026-05-11", "acme/x", "-5"), ("2026-05-12", "a/y", "1")] + WEEK2, **WINDOW),
              b"<html>502</html>",                                               # not JSON
              body(WEEK1 + [("2026-05-04", "other", "9")], **WINDOW),           # duplicate 'other'
              body(WEEK1 + WEEK2, **WINDOW, version="v2"),                       # bad meta only
              body(WEEK2 + WEEK1, **WINDOW)]                                     # good, same rows as the first
    stored = [keep(store, raw, **WINDOW) for raw in bodies]
    items = [(s, store.read(s), str(store.absolute(s))) for s in stored]
    alone = []
    for item in items:
        try:
            alone.append(parse_rankings(*item))
        except PayloadError as exc:
            alone.append(exc)
    for limit in (8, 10**6):  # several chunks of pulls, or all of them in one
        monkeypatch.setattr(assets.parse, "BATCH_ROWS", limit)
        together = parse_rankings_batch(items)
        assert [type(r) for r in together] == [type(r) for r in alone]
        for a, b in zip(alone, together):
            if isinstance(a, PayloadError):
                assert str(a) == str(b)
            else:
                assert a.rows.equals(b.rows) and a.as_of == b.as_of
    # a (bucket, model) repeated in another pull is no duplicate: uniqueness holds within a pull
    assert not isinstance(together[5], PayloadError)


def test_a_run_is_validated_with_one_pandera_call_per_schema(tmp_path, monkeypatch):
    from assets.ingest import validate
    from assets.schemas import RankingRows, RankingRowsText

    calls = []
    for schema in (RankingRowsText, RankingRows):
        original = schema.validate
        monkeypatch.setattr(schema, "validate", lambda frame, *a, _o=original, _s=schema, **k:
                            (calls.append(_s.__name__), _o(frame, *a, **k))[1])
    store = RawStore(tmp_path / "raw")
    pulls = [keep(store, body(WEEK1 + WEEK2, **WINDOW, as_of=f"2026-05-19T02:00:0{i}.000Z"), **WINDOW)
             for i in range(6)]
    assert len(validate(store, pulls)) == 6
    assert sorted(calls) == ["RankingRows", "RankingRowsText"]
