"""logins_daily, from its header: per tenant and tenant-local day (local event_time in the
period), over registrations with event_type 'login' only: logins (successful), unique_users
(distinct users of the successful ones), failed_logins (every failed attempt), failed_users
(distinct users of the failed ones). A row for each day with at least one login event;
ordered by tenant_id, day."""

from _common import in_list, local, ts


def run(con, args):
    tenants = in_list(args.get("tenant"))
    rows = con.execute(
        f"""
        SELECT r.tenant_id, CAST({local('r.event_time')} AS DATE) AS day,
               count(*) FILTER (WHERE r.success) AS logins,
               count(DISTINCT r.user_id) FILTER (WHERE r.success) AS unique_users,
               count(*) FILTER (WHERE NOT r.success) AS failed_logins,
               count(DISTINCT r.user_id) FILTER (WHERE NOT r.success) AS failed_users
        FROM registrations r JOIN tenants t USING (tenant_id)
        WHERE r.event_type = 'login'
          AND {local('r.event_time')} >= ? AND {local('r.event_time')} < ?
          AND (? IS NULL OR list_contains(?, r.tenant_id))
        GROUP BY ALL
        ORDER BY r.tenant_id, day
        """,
        [ts(args["from"]), ts(args["to"]), tenants, tenants],
    ).fetchall()
    cols = ["tenant_id", "day", "logins", "unique_users", "failed_logins", "failed_users"]
    return cols, [(t, d, *map(int, v)) for t, d, *v in rows]
