"""call_duration_histogram, from its header: per tenant, the answered calls (disposition
'answered', any direction/media, conference legs included) invited in the local period, in six
fixed billable_s buckets; every bucket listed (zeros included) for each tenant with at least one
answered call; share_pct = 100 x calls / tenant's answered calls, minutes = sum(billable_s)/60,
both rounded to 2 dp."""

from _common import in_list, local, ts
from _ref import round_half_away

BUCKETS = [  # (order, label, min_s inclusive, max_s exclusive or None)
    (1, "< 1 min", 0, 60),
    (2, "1-5 min", 60, 300),
    (3, "5-15 min", 300, 900),
    (4, "15-30 min", 900, 1800),
    (5, "30-60 min", 1800, 3600),
    (6, ">= 60 min", 3600, None),
]

COLUMNS = ["tenant_id", "bucket_order", "duration_bucket", "min_s", "max_s", "calls", "share_pct",
           "minutes"]


def run(con, args):
    tenants = in_list(args.get("tenant"))
    values = ", ".join(f"({o}, '{lab}', {lo}, {'NULL' if hi is None else hi})" for o, lab, lo, hi in BUCKETS)
    rows = con.execute(
        f"""
        WITH answered AS (
            SELECT c.tenant_id, c.billable_s
            FROM calls c JOIN tenants t USING (tenant_id)
            WHERE c.disposition = 'answered'
              AND {local('c.invite_time')} >= ? AND {local('c.invite_time')} < ?
              AND (? IS NULL OR list_contains(?, c.tenant_id))
        ),
        buckets(bucket_order, duration_bucket, min_s, max_s) AS (VALUES {values}),
        per_tenant AS (SELECT tenant_id, count(*) AS total FROM answered GROUP BY tenant_id)
        SELECT p.tenant_id, b.bucket_order, b.duration_bucket, b.min_s::BIGINT, b.max_s::BIGINT,
               count(a.billable_s) AS calls, p.total, coalesce(sum(a.billable_s), 0) AS seconds
        FROM per_tenant p CROSS JOIN buckets b
        LEFT JOIN answered a ON a.tenant_id = p.tenant_id AND a.billable_s >= b.min_s
                            AND (b.max_s IS NULL OR a.billable_s < b.max_s)
        GROUP BY ALL
        ORDER BY p.tenant_id, b.bucket_order
        """,
        [ts(args["from"]), ts(args["to"]), tenants, tenants],
    ).fetchall()
    out = [(t, o, lab, lo, hi, n, round_half_away(100 * n / total), round_half_away(float(secs) / 60))
           for t, o, lab, lo, hi, n, total, secs in rows]
    return COLUMNS, out
