"""license_overage, from its header: per tenant and tenant-local bucket of invite_time (hour, day
(default), week from Monday, month, or the whole period labelled `from`), every calls row invited
in the period counts once with its licence decision: calls.license_decision when recorded,
otherwise simulated by the soft-ceiling rule (license_use with ceiling C = L + floor(L/2) when
L >= 6, else L) over the tenant's calls invited in [from - 1 day, to) (recorded ones included as
ordinary calls). Columns: licenses, soft_ceiling, calls, normal, surged, rejected, overage =
surged + rejected, overage_pct = 100 x overage / calls (2 dp), simulated = calls whose decision
was simulated. Empty buckets are omitted; rows ordered by tenant_id, bucket.

The simulation, independently of cdrlake and without a per-call loop for most calls: in
(invite_time, call_id) order, c_raw = the concurrency a call sees if nobody were rejected
(itself + earlier calls with end_time NULL or > its invite_time) is the call's rank minus the
lasting calls ended by its invite_time (an ASOF join on the running count of end times) minus
the earlier calls with end_time <= invite_time (they occupy nothing); a call
with c_raw = 1 starts an "island" that earlier calls cannot reach. Rejections (which occupy
nothing) only happen where c > C, and c <= c_raw, so an island whose c_raw never exceeds C has
c = c_raw exactly. Only islands with c_raw > C that hold a call needing a simulated decision are
replayed call by call in Python (a heap of licence end times)."""

import datetime as dt
import heapq

import pyarrow as pa

from _common import in_list, ts
from _ref import round_half_away

COLUMNS = ["tenant_id", "bucket", "licenses", "soft_ceiling", "calls", "normal", "surged",
           "rejected", "overage", "overage_pct", "simulated"]
BUCKETS = {"hour", "day", "week", "month", "period"}
SIM = "license_overage_sim"


def decide(c, licenses, ceiling):
    return "normal" if c <= licenses else "surged" if c <= ceiling else "rejected"


def replay(rows):
    """rows: (tenant_id, island, call_id, invite_us, end_us or None, licenses, ceiling) in
    (tenant, island, invite, call_id) order; each island starts with nothing in progress.
    Returns [(tenant_id, call_id, decision)]."""
    out, active, key = [], [], None
    for tenant, island, call_id, start, end, licenses, ceiling in rows:
        if (tenant, island) != key:
            key, active = (tenant, island), []
        while active and active[0] <= start:
            heapq.heappop(active)
        d = decide(len(active) + 1, licenses, ceiling)
        out.append((tenant, call_id, d))
        if d != "rejected" and (end is None or end > start):
            heapq.heappush(active, float("inf") if end is None else end)
    return out


def run(con, args):
    tenants = in_list(args.get("tenant"))
    start, end = ts(args["from"]), ts(args["to"])
    size = (args.get("param:bucket") or "day").lower()
    if size not in BUCKETS:
        raise ValueError(f"bucket must be 'hour', 'day', 'week', 'month' or 'period', not {size!r}")
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE {SIM} AS
        WITH s AS (
            SELECT c.tenant_id, c.call_id, c.invite_time, c.end_time, c.license_decision,
                   timezone(t.time_zone, c.invite_time) AS local_invite,
                   t.licenses,
                   CASE WHEN t.licenses >= 6 THEN t.licenses + t.licenses // 2 ELSE t.licenses END
                       AS ceiling,
                   c.end_time IS NOT NULL AND c.end_time <= c.invite_time AS degenerate
            FROM calls c JOIN tenants t USING (tenant_id)
            WHERE timezone(t.time_zone, c.invite_time) >= ?::TIMESTAMP - INTERVAL '1 day'
              AND timezone(t.time_zone, c.invite_time) < ?
              AND (? IS NULL OR list_contains(?, c.tenant_id))
        ),
        ends AS (  -- how many lasting calls have ended by each end time
            SELECT tenant_id, end_time,
                   sum(count(*)) OVER (PARTITION BY tenant_id ORDER BY end_time) AS ended
            FROM s WHERE end_time IS NOT NULL AND NOT degenerate
            GROUP BY tenant_id, end_time
        ),
        ranked AS (
            SELECT *, row_number() OVER w AS rnk,
                   sum(degenerate::INT) OVER w - degenerate::INT AS degenerate_before
            FROM s
            WINDOW w AS (PARTITION BY tenant_id ORDER BY invite_time, call_id
                         ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW)
        ),
        raw AS (  -- an end at the call's invite_time is gone (ASOF >=)
            SELECT r.*, r.rnk - coalesce(e.ended, 0) - r.degenerate_before AS c_raw
            FROM ranked r ASOF LEFT JOIN ends e
              ON r.tenant_id = e.tenant_id AND r.invite_time >= e.end_time
        )
        SELECT *, local_invite >= ? AS in_period,
               sum((c_raw = 1)::INT) OVER (PARTITION BY tenant_id ORDER BY invite_time, call_id
                                          ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS island
        FROM raw
        """,
        [start, end, tenants, tenants, start],
    )
    todo = con.execute(
        f"""
        WITH need AS (
            SELECT tenant_id, island FROM {SIM}
            GROUP BY tenant_id, island
            HAVING max(c_raw) > any_value(ceiling)
               AND bool_or(in_period AND license_decision IS NULL)
        )
        SELECT s.tenant_id, s.island, s.call_id, epoch_us(s.invite_time), epoch_us(s.end_time),
               s.licenses, s.ceiling
        FROM {SIM} s JOIN need USING (tenant_id, island)
        ORDER BY s.tenant_id, s.island, s.invite_time, s.call_id
        """
    ).fetchall()
    replayed = replay(todo)
    con.register("license_overage_replayed", pa.table({
        "tenant_id": pa.array([r[0] for r in replayed], pa.string()),
        "call_id": pa.array([r[1] for r in replayed], pa.string()),
        "decision": pa.array([r[2] for r in replayed], pa.string())}))
    bucket = {"period": "?::TIMESTAMP"}.get(size, f"date_trunc('{size}', s.local_invite)")
    rows = con.execute(
        f"""
        WITH d AS (
            SELECT s.tenant_id, {bucket} AS bucket, s.licenses, s.ceiling,
                   s.license_decision IS NULL AS simulated,
                   coalesce(s.license_decision, r.decision,
                            CASE WHEN s.c_raw <= s.licenses THEN 'normal'
                                 WHEN s.c_raw <= s.ceiling THEN 'surged'
                                 ELSE 'rejected' END) AS decision
            FROM {SIM} s LEFT JOIN license_overage_replayed r USING (tenant_id, call_id)
            WHERE s.in_period
        )
        SELECT tenant_id, bucket, any_value(licenses), any_value(ceiling)::BIGINT,
               count(*) AS calls,
               count(*) FILTER (WHERE decision = 'normal') AS normal,
               count(*) FILTER (WHERE decision = 'surged') AS surged,
               count(*) FILTER (WHERE decision = 'rejected') AS rejected,
               count(*) FILTER (WHERE decision <> 'normal') AS overage,
               count(*) FILTER (WHERE simulated) AS simulated
        FROM d
        GROUP BY tenant_id, bucket
        ORDER BY tenant_id, bucket
        """,
        [start] if size == "period" else [],
    ).fetchall()
    con.unregister("license_overage_replayed")
    con.execute(f"DROP TABLE {SIM}")
    out = [(t, b, lic, ceil, n, no, su, rj, ov, round_half_away(100 * ov / n), sim)
           for t, b, lic, ceil, n, no, su, rj, ov, sim in rows]
    return COLUMNS, out
