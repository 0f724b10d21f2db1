"""usage_by_tenant, from its header: one row per tenants row passing the tenant filter (zeros
when idle): name, the period bounds, users / enabled_users now, active_users (distinct users with
a successful login in the local period), calls and answered_calls (every calls row by local
invite_time), minutes and pstn_minutes (sum billable_s / 60, 2 dp, 0 when none), im_sessions and
messages (messages rows by local start_time, sum of message_count). Ordered by tenant_id."""

from _common import in_list, local, ts
from _ref import round_half_away


def run(con, args):
    tenants = in_list(args.get("tenant"))
    frm, to = ts(args["from"]), ts(args["to"])
    rows = con.execute(
        f"""
        WITH tt AS (SELECT * FROM tenants t WHERE $tenants IS NULL OR list_contains($tenants, t.tenant_id)),
        u AS (SELECT tenant_id, count(*) AS users, count(*) FILTER (WHERE enabled) AS enabled_users
              FROM users GROUP BY 1),
        r AS (SELECT r.tenant_id, count(DISTINCT r.user_id) AS active_users
              FROM registrations r JOIN tt t USING (tenant_id)
              WHERE r.event_type = 'login' AND r.success
                AND {local('r.event_time')} >= $from AND {local('r.event_time')} < $to
              GROUP BY 1),
        c AS (SELECT c.tenant_id, count(*) AS calls,
                     count(*) FILTER (WHERE c.disposition = 'answered') AS answered_calls,
                     sum(c.billable_s) AS secs, sum(c.billable_s) FILTER (WHERE c.is_pstn) AS pstn_secs
              FROM calls c JOIN tt t USING (tenant_id)
              WHERE {local('c.invite_time')} >= $from AND {local('c.invite_time')} < $to
              GROUP BY 1),
        m AS (SELECT m.tenant_id, count(*) AS im_sessions, sum(m.message_count) AS messages
              FROM messages m JOIN tt t USING (tenant_id)
              WHERE {local('m.start_time')} >= $from AND {local('m.start_time')} < $to
              GROUP BY 1)
        SELECT tt.tenant_id, tt.name, coalesce(u.users, 0), coalesce(u.enabled_users, 0),
               coalesce(r.active_users, 0), coalesce(c.calls, 0), coalesce(c.answered_calls, 0),
               coalesce(c.secs, 0), coalesce(c.pstn_secs, 0),
               coalesce(m.im_sessions, 0), coalesce(m.messages, 0)
        FROM tt LEFT JOIN u USING (tenant_id) LEFT JOIN r USING (tenant_id)
             LEFT JOIN c USING (tenant_id) LEFT JOIN m USING (tenant_id)
        ORDER BY tt.tenant_id
        """,
        {"from": frm, "to": to, "tenants": tenants},
    ).fetchall()
    out = [(t, name, frm, to, us, en, act, calls, ans, round_half_away(secs / 60, 2),
            round_half_away(psecs / 60, 2), ims, int(msgs))
           for t, name, us, en, act, calls, ans, secs, psecs, ims, msgs in rows]
    cols = ["tenant_id", "tenant_name", "period_from", "period_to", "users", "enabled_users",
            "active_users", "calls", "answered_calls", "minutes", "pstn_minutes", "im_sessions",
            "messages"]
    return cols, out
