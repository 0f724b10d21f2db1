"""Helpers shared by the DuckDB re-implementations of the reports (independent of cdrlake).

Every report takes tenant-local periods: a row is in [from, to) when its start time, converted
to the tenant's wall clock with DuckDB's own time-zone support (`timezone(zone, timestamptz)`),
is in it. Defaults mirror the report headers but tests always pass explicit periods."""

import datetime as dt


def ts(v: str | None) -> dt.datetime | None:
    """A period bound as a naive local datetime ('2026-03-01' or '2026-03-01T08:00:00')."""
    if v is None:
        return None
    return dt.datetime.fromisoformat(v)


def local(col: str, zone: str = "t.time_zone") -> str:
    """SQL for the tenant-local wall-clock time of a TIMESTAMPTZ column."""
    return f"timezone({zone}, {col})"


def in_list(value: str | None) -> list[str] | None:
    """A comma-separated filter as a list; None means no filter."""
    if value is None:
        return None
    return [v.strip() for v in value.split(",")]


def round2(x):
    return None if x is None else round(float(x), 2)
