-- @title Currently logged-in users
-- @seed 000 hosted Skype for Business portal: Currently Logged in Users
-- @description Who is logged in at the instant `at`, with the device and client of each
--   login. Not a period report: it reads the whole registrations history up to `at`. A user
--   can be logged in on several endpoints at once, so the state is kept per (tenant_id,
--   user_id, endpoint), where the endpoint is upper(mac) when mac is not NULL, else the pair
--   (device_manufacturer, device_model) with NULL equal to NULL. Only events with success =
--   true and event_time <= `at` are read (failed login attempts change nothing). For each
--   (tenant_id, user_id, endpoint) the latest such event (greatest event_time, ties broken
--   by the greatest event_id) decides: when it is a 'login', the user is logged in there and
--   that login event gives one row; when it is a 'logout', there is no row. So a user with
--   two endpoints logged in has two rows, and a user who never logged in successfully has
--   none. Columns, all from that login event: tenant_id; user_id; display_name and
--   sip_address (from users, matched on tenant_id and user_id; NULL when the user is not in
--   users); login_time (the event_time, a UTC timestamp); login_time_local (the same instant
--   as tenant-local wall-clock time, local_time(event_time, tenants.time_zone));
--   device_manufacturer; device_model; device_version; mac; client_version; user_agent; ip
--   (as recorded, NULL when not recorded). Rows are ordered by tenant_id, user_id,
--   login_time, mac, device_manufacturer, device_model (NULLs last).
--   v2 returns the same rows as v1: it finds each device's latest event from the key columns
--   alone, then reads the other columns of those events only.
-- @param at | timestamp | now() | The instant to report the state at, in UTC (events at exactly this instant count).
-- @param tenant | text | NULL | Only these tenants (comma-separated ids); NULL for all.
WITH latest AS (
    -- per user and device, the latest successful event (greatest event_time, then event_id),
    -- kept when it is a login
    SELECT tenant_id, user_id,
           max(event_time) AS event_time,
           first_value(event_id ORDER BY event_time DESC, event_id DESC) AS event_id,
           first_value(event_type ORDER BY event_time DESC, event_id DESC) AS event_type
    FROM (
        SELECT r.tenant_id, r.user_id, r.event_id, r.event_time, r.event_type,
               upper(r.mac) AS k_mac,
               CASE WHEN r.mac IS NULL THEN r.device_manufacturer END AS k_manufacturer,
               CASE WHEN r.mac IS NULL THEN r.device_model END AS k_model
        FROM registrations r
        WHERE r.event_time <= CAST($at AS TIMESTAMP) AT TIME ZONE 'UTC'
          AND r.success
          AND ($tenant IS NULL OR array_has(string_to_array($tenant, ','), r.tenant_id))
    ) x
    GROUP BY tenant_id, user_id, k_mac, k_manufacturer, k_model
), ev AS (
    -- those events' rows (the same tenant, event id, time and user; successful)
    SELECT r.*, t.time_zone
    FROM latest l
    JOIN registrations r
      ON r.tenant_id = l.tenant_id AND r.event_id = l.event_id
     AND r.event_time = l.event_time AND r.user_id = l.user_id
    JOIN tenants t ON t.tenant_id = r.tenant_id
    WHERE l.event_type = 'login'
      AND r.success
      AND r.event_time <= CAST($at AS TIMESTAMP) AT TIME ZONE 'UTC'
)
SELECT e.tenant_id, e.user_id, u.display_name, u.sip_address,
       e.event_time AS login_time,
       local_time(e.event_time, e.time_zone) AS login_time_local,
       e.device_manufacturer, e.device_model, e.device_version, e.mac,
       e.client_version, e.user_agent, e.ip
FROM ev e
LEFT JOIN users u ON u.tenant_id = e.tenant_id AND u.user_id = e.user_id
ORDER BY e.tenant_id, e.user_id, e.event_time, e.mac NULLS LAST,
         e.device_manufacturer NULLS LAST, e.device_model NULLS LAST
