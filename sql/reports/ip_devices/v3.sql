-- @title IP devices
-- @seed 000 hosted Skype for Business portal: IP Device Report
-- @description Every device or client that logged in or out during the period, with its
--   latest user and its last logon and logoff. Source: registrations rows with success =
--   true (successful logins and logouts; failed login attempts are ignored) whose
--   local_time(event_time, tenants.time_zone) is in the period. A device is identified per
--   tenant by upper(mac) when mac is not NULL (the same phone used by several users is one
--   device); when mac is NULL by (device_manufacturer, device_model, user_id), NULL equal
--   to NULL (soft clients: one device per user and client). One row per device. Columns:
--   tenant_id; device_manufacturer, device_model, device_version, client_version (each the
--   value of the device's latest event in the period that has a non-NULL value for that
--   column, latest meaning greatest event_time, ties broken by the greatest event_id; NULL
--   when no event has one); mac (upper-cased; NULL for devices without a MAC); user_id (the
--   user of the device's latest event in the period, same ordering); display_name and
--   sip_address (of that user, from users on tenant_id and user_id; NULL when not there);
--   last_logon (greatest event_time of the device's 'login' events in the period, UTC
--   timestamp; NULL when none); last_logoff (greatest event_time of its 'logout' events in
--   the period, UTC timestamp; NULL when none); events (bigint: the device's successful
--   events in the period, logins plus logouts). Rows are ordered by tenant_id,
--   device_manufacturer, device_model, mac, user_id, each with NULLs last.
--   v3 returns the same rows as v2: it first collapses each device's events with the same
--   attributes and user (keeping the latest of them), then picks the latest values among those.
-- @param from | timestamp | date_trunc('day', now()) - INTERVAL '30 days' | Start of the period (tenant-local time, inclusive).
-- @param to | timestamp | date_trunc('day', now()) + INTERVAL '1 day' | End of the period (tenant-local time, exclusive).
-- @param tenant | text | NULL | Only these tenants (comma-separated ids); NULL for all.
WITH r AS (
    SELECT r.tenant_id, r.event_id, r.user_id, r.event_type, r.event_time,
           r.device_manufacturer, r.device_model, r.device_version, r.client_version,
           upper(r.mac) AS mac,
           CASE WHEN r.mac IS NULL THEN r.device_manufacturer END AS k_manufacturer,
           CASE WHEN r.mac IS NULL THEN r.device_model END AS k_model,
           CASE WHEN r.mac IS NULL THEN r.user_id END AS k_user
    FROM registrations r JOIN tenants t ON t.tenant_id = r.tenant_id
    WHERE r.event_time >= CAST($from AS TIMESTAMP) AT TIME ZONE 'UTC' - INTERVAL '14 hours'
      AND r.event_time < CAST($to AS TIMESTAMP) AT TIME ZONE 'UTC' + INTERVAL '14 hours'
      AND local_time(r.event_time, t.time_zone) >= $from
      AND local_time(r.event_time, t.time_zone) < $to
      AND ($tenant IS NULL OR array_has(string_to_array($tenant, ','), r.tenant_id))
      AND r.success
), v AS (
    -- each device's events with the same attributes and user, latest first
    SELECT tenant_id, mac, k_manufacturer, k_model, k_user,
           device_manufacturer, device_model, device_version, client_version, user_id,
           max(event_time) AS event_time,
           first_value(event_id ORDER BY event_time DESC, event_id DESC) AS event_id,
           max(event_time) FILTER (WHERE event_type = 'login') AS last_logon,
           max(event_time) FILTER (WHERE event_type = 'logout') AS last_logoff,
           count(*) AS events
    FROM r
    GROUP BY tenant_id, mac, k_manufacturer, k_model, k_user,
             device_manufacturer, device_model, device_version, client_version, user_id
), d AS (
    SELECT tenant_id, mac,
           first_value(device_manufacturer ORDER BY event_time DESC, event_id DESC)
               FILTER (WHERE device_manufacturer IS NOT NULL) AS device_manufacturer,
           first_value(device_model ORDER BY event_time DESC, event_id DESC)
               FILTER (WHERE device_model IS NOT NULL) AS device_model,
           first_value(device_version ORDER BY event_time DESC, event_id DESC)
               FILTER (WHERE device_version IS NOT NULL) AS device_version,
           first_value(client_version ORDER BY event_time DESC, event_id DESC)
               FILTER (WHERE client_version IS NOT NULL) AS client_version,
           first_value(user_id ORDER BY event_time DESC, event_id DESC) AS user_id,
           max(last_logon) AS last_logon,
           max(last_logoff) AS last_logoff,
           CAST(sum(events) AS BIGINT) AS events
    FROM v
    GROUP BY tenant_id, mac, k_manufacturer, k_model, k_user
)
SELECT d.tenant_id, d.device_manufacturer, d.device_model, d.device_version,
       d.client_version, d.mac, d.user_id, u.display_name, u.sip_address,
       d.last_logon, d.last_logoff, d.events
FROM d
LEFT JOIN users u ON u.tenant_id = d.tenant_id AND u.user_id = d.user_id
ORDER BY d.tenant_id, d.device_manufacturer NULLS LAST, d.device_model NULLS LAST,
         d.mac NULLS LAST, d.user_id NULLS LAST
