"""end_reasons, from its header: per tenant and end reason ('(none)' for NULL) over calls
invited in the local period: calls, answered, share_pct = 100 x calls / tenant's calls, 2 dp."""

from _common import in_list, local, ts
from _ref import round_half_away


def run(con, args):
    tenants = in_list(args.get("tenant"))
    rows = con.execute(
        f"""
        SELECT c.tenant_id, coalesce(c.end_reason, '(none)') AS end_reason,
               count(*) AS calls,
               count(*) FILTER (WHERE c.disposition = 'answered') AS answered
        FROM calls c JOIN tenants t USING (tenant_id)
        WHERE {local('c.invite_time')} >= ? AND {local('c.invite_time')} < ?
          AND (? IS NULL OR list_contains(?, c.tenant_id))
        GROUP BY ALL
        """,
        [ts(args["from"]), ts(args["to"]), tenants, tenants],
    ).fetchall()
    totals = {}
    for t, _, n, _ in rows:
        totals[t] = totals.get(t, 0) + n
    out = [(t, r, n, a, round_half_away(100 * n / totals[t], 2)) for t, r, n, a in rows]
    out.sort(key=lambda r: (r[0], -r[2], r[1]))
    return ["tenant_id", "end_reason", "calls", "answered", "share_pct"], out
