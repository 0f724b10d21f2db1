-- @title Devices by vendor
-- @seed 002 RealConnect dashboard: Devices (pie and bar charts by manufacturer from the User-Agent)
-- @description Call attempts per tenant, device vendor and device model over the period, each
--   call counted once in the period of its local invite_time (local_time(invite_time,
--   tenants.time_zone)), whatever its disposition, direction or media. Columns: tenant_id;
--   vendor (device_vendor(user_agent): the first matching pattern of data/user_agents.csv,
--   'Other' when no pattern matches, '(none)' when user_agent is NULL or empty); model
--   (device_model(user_agent), '(unknown)' when the function gives NULL); calls (bigint,
--   attempts with that vendor and model); answered (bigint, those with disposition
--   'answered'); share_pct (double, 100 * calls / all the tenant's calls in the period,
--   rounded to 2 decimals); vendor_calls (bigint, the tenant's calls with that vendor, all
--   models: the same value on each of the vendor's rows); vendor_share_pct (double, 100 *
--   vendor_calls / all the tenant's calls, rounded to 2 decimals). Only combinations with at
--   least one call are listed. Rows are ordered by tenant_id, vendor_calls descending, vendor,
--   calls descending, model.
--   v2 returns the same rows as v1: it counts calls per User-Agent first and classifies each
--   distinct User-Agent once.
-- @param from | timestamp | date_trunc('day', now()) - INTERVAL '30 days' | Start of the period (tenant-local time, inclusive).
-- @param to | timestamp | date_trunc('day', now()) + INTERVAL '1 day' | End of the period (tenant-local time, exclusive).
-- @param tenant | text | NULL | Only these tenants (comma-separated ids); NULL for all.
WITH c AS (
    SELECT c.tenant_id, c.user_agent, count(*) AS calls,
           count(*) FILTER (WHERE c.disposition = 'answered') AS answered
    FROM calls c JOIN tenants t ON t.tenant_id = c.tenant_id
    WHERE c.invite_time >= CAST($from AS TIMESTAMP) AT TIME ZONE 'UTC' - INTERVAL '14 hours'
      AND c.invite_time < CAST($to AS TIMESTAMP) AT TIME ZONE 'UTC' + INTERVAL '14 hours'
      AND local_time(c.invite_time, t.time_zone) >= $from
      AND local_time(c.invite_time, t.time_zone) < $to
      AND ($tenant IS NULL OR array_has(string_to_array($tenant, ','), c.tenant_id))
    GROUP BY c.tenant_id, c.user_agent
), g AS (
    SELECT tenant_id,
           coalesce(device_vendor(user_agent), '(none)') AS vendor,
           coalesce(device_model(user_agent), '(unknown)') AS model,
           CAST(sum(calls) AS BIGINT) AS calls,
           CAST(sum(answered) AS BIGINT) AS answered
    FROM c
    GROUP BY tenant_id, coalesce(device_vendor(user_agent), '(none)'),
             coalesce(device_model(user_agent), '(unknown)')
), w AS (
    SELECT g.*,
           sum(calls) OVER (PARTITION BY tenant_id) AS tenant_calls,
           sum(calls) OVER (PARTITION BY tenant_id, vendor) AS vendor_calls
    FROM g
)
SELECT tenant_id, vendor, model, calls, answered,
       round(100 * CAST(calls AS DOUBLE) / nullif(tenant_calls, 0), 2) AS share_pct,
       vendor_calls,
       round(100 * CAST(vendor_calls AS DOUBLE) / nullif(tenant_calls, 0), 2) AS vendor_share_pct
FROM w
ORDER BY tenant_id, vendor_calls DESC, vendor, calls DESC, model
