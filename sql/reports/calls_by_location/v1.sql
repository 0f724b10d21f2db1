-- @title Calls by location
-- @seed 002 RealConnect: Calls > Map (source location of calls)
-- @description Call attempts per tenant and endpoint location over the period, for a map. Each
--   calls row counts once, in the period of its local invite_time (local_time(invite_time,
--   tenants.time_zone)), whatever its disposition, direction or media. Rows are grouped by the
--   text of country, region and city as recorded (NULL shown as '(unknown)'); coordinates are
--   averaged, not grouped. Columns: tenant_id; country (ISO 3166 alpha-2); region; city;
--   latitude, longitude (double, average of the non-NULL calls.latitude / calls.longitude of
--   the group's calls, rounded to 2 decimals half away from zero; NULL when none has one; the
--   average is computed in decimal on the coordinates taken to 6 decimals, so it does not depend
--   on summation order: five calls at 13.405 give 13.41); calls (bigint,
--   attempts); answered (bigint, those with disposition 'answered'); share_pct (double, 100 *
--   calls / all the tenant's calls in the period, rounded to 2 decimals). Only locations with
--   at least one call are listed. Rows are ordered by tenant_id, calls descending, country,
--   region, city.
-- @param from | timestamp | date_trunc('day', now()) - INTERVAL '30 days' | Start of the period (tenant-local time, inclusive).
-- @param to | timestamp | date_trunc('day', now()) + INTERVAL '1 day' | End of the period (tenant-local time, exclusive).
-- @param tenant | text | NULL | Only these tenants (comma-separated ids); NULL for all.
WITH c AS (
    SELECT c.tenant_id,
           coalesce(c.country, '(unknown)') AS country,
           coalesce(c.region, '(unknown)') AS region,
           coalesce(c.city, '(unknown)') AS city,
           c.latitude, c.longitude, c.disposition
    FROM calls c JOIN tenants t ON t.tenant_id = c.tenant_id
    WHERE c.invite_time >= CAST($from AS TIMESTAMP) AT TIME ZONE 'UTC' - INTERVAL '14 hours'
      AND c.invite_time < CAST($to AS TIMESTAMP) AT TIME ZONE 'UTC' + INTERVAL '14 hours'
      AND local_time(c.invite_time, t.time_zone) >= $from
      AND local_time(c.invite_time, t.time_zone) < $to
      AND ($tenant IS NULL OR array_has(string_to_array($tenant, ','), c.tenant_id))
), g AS (
    SELECT tenant_id, country, region, city,
           avg(CAST(latitude AS DECIMAL(18, 6))) AS latitude,
           avg(CAST(longitude AS DECIMAL(18, 6))) AS longitude,
           count(*) AS calls,
           count(*) FILTER (WHERE disposition = 'answered') AS answered
    FROM c
    GROUP BY tenant_id, country, region, city
)
SELECT tenant_id, country, region, city,
       CAST(round(latitude, 2) AS DOUBLE) AS latitude,
       CAST(round(longitude, 2) AS DOUBLE) AS longitude,
       calls, answered,
       round(100 * CAST(calls AS DOUBLE) / nullif(sum(calls) OVER (PARTITION BY tenant_id), 0), 2)
           AS share_pct
FROM g
ORDER BY tenant_id, calls DESC, country, region, city
