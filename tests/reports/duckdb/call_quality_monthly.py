"""call_quality_monthly, from its header: calls invited in the tenant-local period, graded by their
quality_score = the lowest non-NULL score of their audio streams (calls without one are not
counted). Class: good when score >= good_min, else poor when score < poor_below, else marginal.
Per (tenant, local month of invite): calls, good/marginal/poor calls, their percentages of calls
and the mean call score, all rounded half away from zero to 2 dp. Ordered by tenant_id, month."""

from _common import in_list, ts
from _ref import call_audio_streams_sql, round_half_away


def _float(v, default):
    return default if v is None else float(v)


def run(con, args):
    tenants = in_list(args.get("tenant"))
    good_min = _float(args.get("param:good_min"), 91.0)
    poor_below = _float(args.get("param:poor_below"), 86.0)
    frm, to = ts(args["from"]), ts(args["to"])
    streams = call_audio_streams_sql(con, frm, to)
    rows = con.execute(
        f"""
        WITH per_call AS (
          SELECT c_tenant_id AS tenant_id, c_call_id,
                 CAST(date_trunc('month', any_value(c_local_invite)) AS DATE) AS month,
                 min(quality_score) AS q
          FROM ({streams})
          GROUP BY c_tenant_id, c_call_id
          HAVING min(quality_score) IS NOT NULL
        ), graded AS (
          SELECT *, CASE WHEN q >= ? THEN 'good' WHEN q < ? THEN 'poor' ELSE 'marginal' END AS cls
          FROM per_call
        )
        SELECT tenant_id, month, count(*) AS calls,
               count(*) FILTER (WHERE cls = 'good'), count(*) FILTER (WHERE cls = 'marginal'),
               count(*) FILTER (WHERE cls = 'poor'), avg(q)
        FROM graded GROUP BY ALL ORDER BY tenant_id, month
        """,
        [frm, to, frm, to, tenants, tenants, good_min, poor_below],
    ).fetchall()
    out = [(t, m, n, g, mg, p, round_half_away(100 * g / n), round_half_away(100 * mg / n),
            round_half_away(100 * p / n), round_half_away(q)) for t, m, n, g, mg, p, q in rows]
    cols = ["tenant_id", "month", "calls", "good_calls", "marginal_calls", "poor_calls", "good_pct",
            "marginal_pct", "poor_pct", "avg_quality_score"]
    return cols, out
