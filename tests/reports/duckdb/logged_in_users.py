"""logged_in_users, from its header: the state at the UTC instant `at` from the whole
registrations history. Per (tenant, user, endpoint) — endpoint upper(mac) when mac is set, else
(device_manufacturer, device_model) with NULL = NULL — the latest successful event with
event_time <= at (ties: greatest event_id) decides; a 'login' gives one row with that event's
columns plus the user's display_name / sip_address and the local login time. Ordered by
tenant_id, user_id, login_time, mac, device_manufacturer, device_model, NULLs last."""

import datetime as dt

from _common import in_list, local


def run(con, args):
    tenants = in_list(args.get("tenant"))
    at = dt.datetime.fromisoformat(args["param:at"])
    if at.tzinfo is None:
        at = at.replace(tzinfo=dt.timezone.utc)
    rows = con.execute(
        f"""
        WITH ranked AS (
          SELECT r.*, row_number() OVER (
                   PARTITION BY r.tenant_id, r.user_id,
                                CASE WHEN r.mac IS NOT NULL THEN upper(r.mac) END,
                                CASE WHEN r.mac IS NULL THEN r.device_manufacturer END,
                                CASE WHEN r.mac IS NULL THEN r.device_model END,
                                r.mac IS NULL
                   ORDER BY r.event_time DESC, r.event_id DESC) AS rn
          FROM registrations r
          WHERE r.success AND r.event_time <= ?
            AND (? IS NULL OR list_contains(?, r.tenant_id))
        )
        SELECT k.tenant_id, k.user_id, u.display_name, u.sip_address,
               timezone('UTC', k.event_time) AS login_time,
               {local('k.event_time')} AS login_time_local,
               k.device_manufacturer, k.device_model, k.device_version, k.mac,
               k.client_version, k.user_agent, k.ip
        FROM ranked k JOIN tenants t USING (tenant_id)
        LEFT JOIN users u ON u.tenant_id = k.tenant_id AND u.user_id = k.user_id
        WHERE k.rn = 1 AND k.event_type = 'login'
        ORDER BY k.tenant_id, k.user_id, login_time, k.mac NULLS LAST,
                 k.device_manufacturer NULLS LAST, k.device_model NULLS LAST
        """,
        [at, tenants, tenants],
    ).fetchall()
    cols = ["tenant_id", "user_id", "display_name", "sip_address", "login_time", "login_time_local",
            "device_manufacturer", "device_model", "device_version", "mac", "client_version",
            "user_agent", "ip"]
    return cols, rows
