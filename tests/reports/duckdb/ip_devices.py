"""ip_devices, from its header: successful registrations (logins and logouts) with local
event_time in the period, grouped per device: upper(mac) when mac is set, else
(device_manufacturer, device_model, user_id) with NULL = NULL. Per device: manufacturer, model,
device_version and client_version each from the latest event having a non-NULL value; mac
upper-cased; user_id of the latest event (and that user's display_name / sip_address);
last_logon / last_logoff (greatest UTC event_time per type); events (count). Latest = greatest
event_time, then greatest event_id. Ordered by tenant_id, device_manufacturer, device_model,
mac, user_id, NULLs last."""

from _common import in_list, local, ts


def _latest_non_null(col):
    """SQL aggregate: col of the latest event (event_time, then event_id) where col is not NULL."""
    return f"arg_max({col}, (event_time, event_id)) FILTER (WHERE {col} IS NOT NULL) AS {col}"


def run(con, args):
    cols = ("device_manufacturer", "device_model", "device_version", "client_version")
    latest = ",\n                 ".join(_latest_non_null(c) for c in cols)
    tenants = in_list(args.get("tenant"))
    rows = con.execute(
        f"""
        WITH ev AS (
          SELECT r.*,
                 CASE WHEN r.mac IS NOT NULL THEN 'M' || upper(r.mac) END AS k_mac,
                 CASE WHEN r.mac IS NULL THEN r.device_manufacturer END AS k_man,
                 CASE WHEN r.mac IS NULL THEN r.device_model END AS k_mod,
                 CASE WHEN r.mac IS NULL THEN r.user_id END AS k_user
          FROM registrations r JOIN tenants t USING (tenant_id)
          WHERE r.success
            AND {local('r.event_time')} >= ? AND {local('r.event_time')} < ?
            AND (? IS NULL OR list_contains(?, r.tenant_id))
        ), d AS (
          SELECT tenant_id, k_mac, k_man, k_mod, k_user,
                 {latest},
                 upper(any_value(mac)) AS mac,
                 arg_max(user_id, (event_time, event_id)) AS user_id,
                 max(event_time) FILTER (WHERE event_type = 'login') AS last_logon,
                 max(event_time) FILTER (WHERE event_type = 'logout') AS last_logoff,
                 count(*) AS events
          FROM ev
          GROUP BY tenant_id, k_mac, k_man, k_mod, k_user
        )
        SELECT d.tenant_id, d.device_manufacturer, d.device_model, d.device_version,
               d.client_version, d.mac, d.user_id, u.display_name, u.sip_address,
               timezone('UTC', d.last_logon), timezone('UTC', d.last_logoff),
               d.events
        FROM d LEFT JOIN users u ON u.tenant_id = d.tenant_id AND u.user_id = d.user_id
        ORDER BY d.tenant_id, d.device_manufacturer NULLS LAST, d.device_model NULLS LAST,
                 d.mac NULLS LAST, d.user_id NULLS LAST
        """,
        [ts(args["from"]), ts(args["to"]), tenants, tenants],
    ).fetchall()
    cols = ["tenant_id", "device_manufacturer", "device_model", "device_version", "client_version",
            "mac", "user_id", "display_name", "sip_address", "last_logon", "last_logoff", "events"]
    return cols, [(*r[:11], int(r[11])) for r in rows]
