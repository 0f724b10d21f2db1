"""calls_by_location, from its header: per tenant and recorded (country, region, city) text
(NULL shown as '(unknown)'), the calls invited in the local period (every disposition, direction
and media): latitude/longitude = average of the non-NULL coordinates (NULL when none), computed
exactly in decimal on the coordinates taken to 6 decimals and rounded to 2 decimals half away
from zero (24 or 5 calls at 13.405 both give 13.41, whatever a float sum would say); calls;
answered; share_pct = 100 x calls / tenant's calls (2 dp). Ordered by tenant_id, calls
descending, country, region, city."""

from decimal import ROUND_HALF_UP, Decimal

from _common import in_list, local, ts
from _ref import round_half_away

COLUMNS = ["tenant_id", "country", "region", "city", "latitude", "longitude", "calls", "answered",
           "share_pct"]


def mean2(total, n):
    """Exact mean of decimals rounded to 2 places, ties away from zero; None over nothing."""
    if not n:
        return None
    return float((Decimal(total) / n).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP))


def run(con, args):
    tenants = in_list(args.get("tenant"))
    rows = con.execute(
        f"""
        SELECT c.tenant_id,
               coalesce(c.country, '(unknown)') AS country,
               coalesce(c.region, '(unknown)') AS region,
               coalesce(c.city, '(unknown)') AS city,
               sum(CAST(c.latitude AS DECIMAL(18, 6))) AS lat_sum, count(c.latitude) AS lat_n,
               sum(CAST(c.longitude AS DECIMAL(18, 6))) AS lon_sum, count(c.longitude) AS lon_n,
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
    for r in rows:
        totals[r[0]] = totals.get(r[0], 0) + r[8]
    out = [(t, co, re, ci, mean2(las, lan), mean2(los, lon), n, a, round_half_away(100 * n / totals[t]))
           for t, co, re, ci, las, lan, los, lon, n, a in rows]
    out.sort(key=lambda r: (r[0], -r[6], r[1], r[2], r[3]))
    return COLUMNS, out
