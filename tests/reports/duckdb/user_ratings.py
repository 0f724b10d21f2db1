"""user_ratings, from its header: rated calls (user_rating NOT NULL, local invite in the period)
per rater and tenant-local month. The rater is caller_user for conference legs and for outbound
and internal calls, callee_user for other inbound calls; NULL raters are not counted. Per
(tenant, rater, month): month_rated_sessions, month_avg_rating; tenant_month_avg_rating over all
counted rated calls of the tenant in the month; per (tenant, rater) over the whole period:
lowest_rating, rated_sessions, avg_rating, rating_1..rating_5. user_id/display_name from users by
case-insensitive sip_address in the tenant. Averages are sums / counts, rounded half away from
zero to 2 decimals. Ordered by tenant_id, user_sip, month."""

from _common import in_list, local, ts
from _ref import round_half_away


def run(con, args):
    tenants = in_list(args.get("tenant"))
    rows = con.execute(
        f"""
        WITH rated AS (
          SELECT c.tenant_id,
                 CASE WHEN c.conference_id IS NOT NULL THEN c.caller_user
                      WHEN c.direction = 'inbound' THEN c.callee_user
                      WHEN c.direction IN ('outbound', 'internal') THEN c.caller_user END AS user_sip,
                 CAST(date_trunc('month', {local('c.invite_time')}) AS DATE) AS month,
                 c.user_rating AS r
          FROM calls c JOIN tenants t USING (tenant_id)
          WHERE c.user_rating IS NOT NULL
            AND {local('c.invite_time')} >= ? AND {local('c.invite_time')} < ?
            AND (?::VARCHAR[] IS NULL OR list_contains(?::VARCHAR[], c.tenant_id))
        ), counted AS (SELECT * FROM rated WHERE user_sip IS NOT NULL),
        per_month AS (
          SELECT tenant_id, user_sip, month, count(*) AS n, sum(r) AS s FROM counted GROUP BY ALL
        ), tenant_month AS (
          SELECT tenant_id, month, count(*) AS n, sum(r) AS s FROM counted GROUP BY ALL
        ), per_user AS (
          SELECT tenant_id, user_sip, min(r) AS lo, count(*) AS n, sum(r) AS s,
                 count(*) FILTER (WHERE r = 1) AS r1, count(*) FILTER (WHERE r = 2) AS r2,
                 count(*) FILTER (WHERE r = 3) AS r3, count(*) FILTER (WHERE r = 4) AS r4,
                 count(*) FILTER (WHERE r = 5) AS r5
          FROM counted GROUP BY ALL
        )
        SELECT m.tenant_id, m.user_sip,
               (SELECT first(u.user_id ORDER BY u.user_id) FROM users u
                 WHERE u.tenant_id = m.tenant_id AND lower(u.sip_address) = lower(m.user_sip)) AS user_id,
               (SELECT first(u.display_name ORDER BY u.user_id) FROM users u
                 WHERE u.tenant_id = m.tenant_id AND lower(u.sip_address) = lower(m.user_sip)) AS display_name,
               m.month, m.n, m.s::DOUBLE / m.n, tm.s::DOUBLE / tm.n,
               p.lo, p.n, p.s::DOUBLE / p.n, p.r1, p.r2, p.r3, p.r4, p.r5
        FROM per_month m
        JOIN tenant_month tm USING (tenant_id, month)
        JOIN per_user p USING (tenant_id, user_sip)
        ORDER BY m.tenant_id, m.user_sip, m.month
        """,
        [ts(args["from"]), ts(args["to"]), tenants, tenants],
    ).fetchall()
    out = [(t, sip, uid, name, month, n, round_half_away(ma), round_half_away(tma), lo, pn,
            round_half_away(pa), r1, r2, r3, r4, r5)
           for t, sip, uid, name, month, n, ma, tma, lo, pn, pa, r1, r2, r3, r4, r5 in rows]
    cols = ["tenant_id", "user_sip", "user_id", "display_name", "month", "month_rated_sessions",
            "month_avg_rating", "tenant_month_avg_rating", "lowest_rating", "rated_sessions", "avg_rating",
            "rating_1", "rating_2", "rating_3", "rating_4", "rating_5"]
    return cols, out
