"""The answer check of benches/compare.py: engines return the same answer in different Arrow
types (DuckDB sums integers into DECIMAL(38, 0), chDB returns naive UTC timestamps, a month
bucket is a date in one engine and a midnight timestamp in another), and those must compare
equal, while a cent, a row or a column of difference must not."""

import datetime as dt
import decimal
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "benches"))

import compare  # noqa: E402


def answer(tmp_path, name, table):
    path = tmp_path / f"{name}.parquet"
    pq.write_table(table, path)
    return compare.canonical(path)


UTC = dt.timezone.utc


def reference():
    return pa.table({
        "tenant_id": ["t1", "t2"],
        "hour": pa.array([dt.datetime(2026, 10, 1, 4, tzinfo=UTC), dt.datetime(2026, 10, 1, 5, tzinfo=UTC)],
                         pa.timestamp("us", "UTC")),
        "month": pa.array([dt.date(2026, 10, 1), dt.date(2026, 11, 1)], pa.date32()),
        "calls": pa.array([3, 5], pa.int64()),
        "charge": pa.array([decimal.Decimal("1.250000"), decimal.Decimal("0.000001")], pa.decimal128(38, 6)),
        "asr": pa.array([0.1 + 0.2, 2 / 3], pa.float64()),
    })


def test_same_answer_in_other_types_and_order_compares_equal(tmp_path):
    other = pa.table({
        # Other column order, other row order, other types for the same values.
        "ASR": pa.array([2 / 3, 0.3], pa.float64()),
        "charge": pa.array([decimal.Decimal("0.000001"), decimal.Decimal("1.25")], pa.decimal128(18, 6)),
        "calls": pa.array([decimal.Decimal(5), decimal.Decimal(3)], pa.decimal128(38, 0)),
        "month": pa.array([dt.datetime(2026, 11, 1), dt.datetime(2026, 10, 1)], pa.timestamp("ms")),
        "hour": pa.array([dt.datetime(2026, 10, 1, 5), dt.datetime(2026, 10, 1, 4)], pa.timestamp("us")),
        "tenant_id": pa.array(["t2", "t1"], pa.large_string()),
    })
    assert answer(tmp_path, "a", reference())["digest"] == answer(tmp_path, "b", other)["digest"]


def test_a_cent_a_row_or_a_column_of_difference_is_a_mismatch(tmp_path):
    ref = answer(tmp_path, "ref", reference())["digest"]
    t = reference()
    cent = t.set_column(t.schema.get_field_index("charge"), "charge",
                        pa.array([decimal.Decimal("1.250000"), decimal.Decimal("0.000002")], pa.decimal128(38, 6)))
    assert answer(tmp_path, "cent", cent)["digest"] != ref
    assert answer(tmp_path, "row", t.slice(0, 1))["digest"] != ref
    assert answer(tmp_path, "col", t.rename_columns([*t.column_names[:-1], "acd"]))["digest"] != ref
    shifted = t.set_column(t.schema.get_field_index("hour"), "hour",
                           pa.array([dt.datetime(2026, 10, 1, 4), dt.datetime(2026, 10, 1, 6)], pa.timestamp("us")))
    assert answer(tmp_path, "hour", shifted)["digest"] != ref


def test_every_query_has_every_engine():
    from queries import QUERIES
    assert len(QUERIES) >= 20
    for name, q in QUERIES.items():
        assert q["kind"] in ("report", "adhoc"), name
        assert q["sql"] and q["doc"] and callable(q["polars"]), name
