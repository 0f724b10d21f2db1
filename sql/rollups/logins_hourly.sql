-- Rollup logins_hourly: successful logins (registrations rows with event_type 'login' and
-- success = true) per tenant, user and tenant-local hour, for distinct-user counts over any
-- period (unique logins, active users). One row per (event_date, tenant_id, user_id,
-- local_hour); event_date is the UTC date partition of the registrations rows summarised and
-- local_hour is date_trunc('hour', local_time(event_time, tenants.time_zone)).
SELECT r.event_date,
       r.tenant_id,
       r.user_id,
       date_trunc('hour', local_time(r.event_time, t.time_zone)) AS local_hour,
       count(*) AS logins
FROM registrations r JOIN tenants t ON t.tenant_id = r.tenant_id
WHERE r.event_type = 'login' AND r.success
GROUP BY r.event_date, r.tenant_id, r.user_id,
         date_trunc('hour', local_time(r.event_time, t.time_zone))
