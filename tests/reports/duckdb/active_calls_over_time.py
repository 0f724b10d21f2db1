"""active_calls_over_time, from its header: per tenant and tenant-local bucket (minute, hour or
day; NULL: 'hour' when to <= from + 7 days, else 'day'), the connected calls, a call occupying
[answer_time, end_time) (no answer_time: nowhere; end_time <= answer_time or NULL: occupies
nothing but is still joined). total_joined = calls answered in [bucket start, next bucket start);
max_concurrent = peak of calls in progress at any instant of the bucket, carried-in calls
included, an end at the same instant as an answer not overlapping it.

Buckets are found without assuming fixed offsets: UTC instants on a grid (1 minute for minute
buckets, 15 minutes otherwise: every zone offset is a multiple of 15 minutes) are converted to
the local wall clock, and a bucket starts where the truncated local time changes, or (minute and
hour buckets) where the local clock goes backwards (the repeated hour after a clock change back
is then two buckets). Local days are therefore 23 or 25 hours long across DST. A bucket is in
the period when its local start is >= from and its local start + 1 unit is <= to (a bucket that
straddles from or to is left out). Every bucket of the period is listed, zeros included, for the
tenants that have a bucket with total_joined > 0 or max_concurrent > 0.

The peak is a sweep, not an interval self-join: +1 at each answer, -1 at each end, and a marker
at each bucket start, sorted by (time, ends < answers < marker); the running sum at the marker is
the concurrency at the bucket start (calls carried in), after an answer the concurrency at that
instant; a bucket's peak is the max of its marker and its answers."""

import datetime as dt

from _common import in_list, ts

COLUMNS = ["tenant_id", "bucket_size", "bucket", "bucket_start_utc", "total_joined",
           "max_concurrent"]
UNITS = {"minute": dt.timedelta(minutes=1), "hour": dt.timedelta(hours=1), "day": dt.timedelta(days=1)}


def bucket_size(value, start, end):
    if value is None:
        return "hour" if end <= start + dt.timedelta(days=7) else "day"
    size = value.lower()
    if size not in UNITS:
        raise ValueError(f"bucket must be 'minute', 'hour' or 'day', not {value!r}")
    return size


def run(con, args):
    tenants = in_list(args.get("tenant"))
    start, end = ts(args["from"]), ts(args["to"])
    size = bucket_size(args.get("param:bucket"), start, end)
    if end <= start:
        return COLUMNS, []
    step = "1 minute" if size == "minute" else "15 minutes"
    # UTC grid wide enough for any offset (-12..+14 h) plus one bucket after `to`.
    grid_from = start.replace(minute=0, second=0, microsecond=0) - dt.timedelta(hours=15)
    grid_to = end + dt.timedelta(hours=15) + UNITS[size]
    rows = con.execute(
        f"""
        WITH tz AS (
            SELECT tenant_id, time_zone FROM tenants
            WHERE (? IS NULL OR list_contains(?, tenant_id))
        ),
        grid AS (
            SELECT tz.tenant_id, timezone('UTC', g.range) AS utc,
                   timezone(tz.time_zone, timezone('UTC', g.range)) AS loc
            FROM tz CROSS JOIN range(?::TIMESTAMP, ?::TIMESTAMP, INTERVAL '{step}') g
        ),
        marked AS (
            SELECT *, lag(loc) OVER (PARTITION BY tenant_id ORDER BY utc) AS prev
            FROM grid
        ),
        starts AS (
            SELECT tenant_id, utc AS bs, loc AS bucket,
                   lead(utc) OVER (PARTITION BY tenant_id ORDER BY utc) AS be
            FROM marked
            WHERE prev IS NOT NULL
              AND (date_trunc('{size}', loc) <> date_trunc('{size}', prev)
                   OR ('{size}' <> 'day' AND loc < prev))
        ),
        buckets AS (
            SELECT * FROM starts
            WHERE bucket >= ? AND bucket + INTERVAL '1 {size}' <= ? AND be IS NOT NULL
        ),
        bounds AS (
            SELECT tenant_id, min(bs) AS lo, max(be) AS hi FROM buckets GROUP BY tenant_id
        ),
        answered AS (
            SELECT c.tenant_id, c.answer_time, c.end_time
            FROM calls c JOIN bounds b USING (tenant_id)
            WHERE c.answer_time IS NOT NULL AND c.answer_time < b.hi
              AND (c.answer_time >= b.lo OR c.end_time > b.lo)
        ),
        joined AS (
            SELECT b.tenant_id, b.bs, count(*) AS n
            FROM answered a ASOF JOIN buckets b
              ON a.tenant_id = b.tenant_id AND a.answer_time >= b.bs
            WHERE a.answer_time < b.be
            GROUP BY ALL
        ),
        events AS (
            SELECT tenant_id, answer_time AS t, 1 AS kind, 1 AS delta FROM answered
            WHERE end_time > answer_time
            UNION ALL
            SELECT tenant_id, end_time, 0, -1 FROM answered WHERE end_time > answer_time
            UNION ALL
            SELECT tenant_id, bs, 2, 0 FROM buckets
        ),
        swept AS (
            SELECT tenant_id, t, kind,
                   sum(delta) OVER (PARTITION BY tenant_id ORDER BY t, kind
                                    ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS level
            FROM events
        ),
        peaks AS (
            SELECT b.tenant_id, b.bs, max(s.level) AS peak
            FROM swept s ASOF JOIN buckets b ON s.tenant_id = b.tenant_id AND s.t >= b.bs
            WHERE s.kind > 0 AND s.t < b.be
            GROUP BY ALL
        ),
        result AS (
            SELECT b.tenant_id, b.bucket, b.bs, coalesce(j.n, 0) AS total_joined,
                   coalesce(p.peak, 0) AS max_concurrent
            FROM buckets b
            LEFT JOIN joined j USING (tenant_id, bs)
            LEFT JOIN peaks p USING (tenant_id, bs)
        )
        SELECT tenant_id, '{size}', bucket, timezone('UTC', bs), total_joined::BIGINT, max_concurrent::BIGINT
        FROM result
        WHERE tenant_id IN (SELECT tenant_id FROM result
                            WHERE total_joined > 0 OR max_concurrent > 0)
        ORDER BY tenant_id, bs
        """,
        [tenants, tenants, grid_from, grid_to, start, end],
    ).fetchall()
    # bucket_start_utc comes back as the naive UTC wall clock; tag it as UTC.
    return COLUMNS, [(t, s, b, u.replace(tzinfo=dt.timezone.utc), j, m) for t, s, b, u, j, m in rows]
