"""usa_rate_center, from its header: calls with local invite_time in [from, to) passing the
tenant/customer/provider filters (exact list matches) whose number on the chosen side (param
side: 'calling' = caller_number, anything else = callee_number) is a valid +1 number with a US
geographic area code (a state, DC or a territory), grouped by tenant_id and prefix (the first 8
characters, '+1' NPA NXX): state (npa_state), rate_center and lata from the user-loaded
rate_centers table (npa, nxx, rate_center, state, lata; NULL when it is not loaded or has no row
for the NPA-NXX), calls, connected (answered), minutes (billable_s / 60, 2 dp), charge, cost
(exact decimals) and a note on the rate-center lookup. Ordered by tenant_id, prefix."""

import datetime as dt

from _common import in_list, local, ts
from _ref import register_npa, round_half_away

COLS = ["tenant_id", "prefix", "state", "rate_center", "lata", "calls", "connected", "minutes",
        "charge", "cost", "note"]


def _default(days):
    return dt.datetime.combine(dt.datetime.now(dt.UTC).date(), dt.time()) + dt.timedelta(days=days)


def _has_rate_centers(con):
    return con.execute(
        "SELECT count(*) FROM duckdb_tables() WHERE table_name = 'rate_centers'"
        " UNION ALL SELECT count(*) FROM duckdb_views() WHERE view_name = 'rate_centers'"
    ).fetchall() != [(0,), (0,)]


def run(con, args):
    tenants = in_list(args.get("tenant"))
    customers = in_list(args.get("customer"))
    providers = in_list(args.get("provider"))
    start = ts(args.get("from")) or _default(-30)
    end = ts(args.get("to")) or _default(1)
    side = "c.caller_number" if args.get("param:side") == "calling" else "c.callee_number"
    npa = register_npa(con)
    loaded = _has_rate_centers(con)
    if loaded:
        rc_join = """LEFT JOIN (SELECT trim(npa) AS npa, trim(nxx) AS nxx, rate_center, lata
                                FROM rate_centers) r
                     ON r.npa = substr(g.prefix, 3, 3) AND r.nxx = substr(g.prefix, 6, 3)"""
        rc_cols = """r.rate_center, r.lata,
                     CASE WHEN r.npa IS NULL THEN 'NPA-NXX not in the rate-center table' END AS note"""
    else:
        rc_join = ""
        rc_cols = "NULL::VARCHAR AS rate_center, NULL::VARCHAR AS lata, 'rate-center table not loaded' AS note"
    rows = con.execute(
        f"""
        WITH g AS (
          SELECT c.tenant_id, substr({side}, 1, 8) AS prefix, n.region AS state,
                 count(*) AS calls, count(*) FILTER (WHERE c.disposition = 'answered') AS connected,
                 sum(c.billable_s) AS seconds,
                 sum(c.customer_charge) AS charge, sum(c.provider_cost) AS cost
          FROM calls c JOIN tenants t USING (tenant_id)
          JOIN {npa} n ON n.npa = substr({side}, 3, 3)
          WHERE regexp_full_match({side}, '\\+1[0-9]{{10}}')
            AND n.kind = 'geographic' AND n.country = 'US'
            AND {local('c.invite_time')} >= ? AND {local('c.invite_time')} < ?
            AND (? IS NULL OR list_contains(?, c.tenant_id))
            AND (? IS NULL OR list_contains(?, c.customer))
            AND (? IS NULL OR list_contains(?, c.provider))
          GROUP BY ALL
        )
        SELECT g.tenant_id, g.prefix, g.state, {rc_cols}, g.calls, g.connected, g.seconds,
               g.charge, g.cost
        FROM g {rc_join}
        ORDER BY g.tenant_id, g.prefix
        """,
        [start, end, tenants, tenants, customers, customers, providers, providers],
    ).fetchall()
    out = [(t, p, s, rc, lata, n, conn, round_half_away(sec / 60) if sec is not None else None, ch, co, note)
           for t, p, s, rc, lata, note, n, conn, sec, ch, co in rows]
    return COLS, out
