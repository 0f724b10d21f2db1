-- @title Licence overage, rejected and surged calls
-- @seed 002 RealConnect dashboard: License Overage, Rejected Calls, Surged Calls (soft ceiling)
-- @description Licence decisions of call attempts per tenant and tenant-local time bucket.
--   Every calls row counts once, in the bucket of local_time(invite_time, tenants.time_zone)
--   (all dispositions and directions, conference legs included). Each call's decision is the
--   recorded calls.license_decision ('normal', 'surged' or 'rejected') when it is not NULL;
--   when it is NULL (the switch recorded none) the decision is simulated with
--   license_use(invite_time, end_time, licenses, soft_ceiling) OVER (PARTITION BY tenant_id
--   ORDER BY invite_time, call_id), i.e. in (invite_time, call_id) order each call sees the
--   number c of calls in progress at its invite_time, itself included (a call occupies
--   [invite_time, end_time); calls the simulation rejects occupy nothing): c <= licenses is
--   'normal', licenses < c <= soft_ceiling 'surged', c > soft_ceiling 'rejected'. The
--   simulation sees the tenant's calls whose local invite_time lies in [from - 1 day, to)
--   (recorded decisions included as ordinary calls), so calls still in progress at the start
--   of the period are carried in. Licence overage = surged + rejected: attempts made while all
--   licences were in use (c > licenses). bucket parameter: 'hour', 'day' (default when NULL),
--   'week' (weeks start on Monday), 'month' or 'period' (the whole period as one bucket),
--   case-insensitive; any other value is an error. Columns: tenant_id; bucket (timestamp,
--   local wall-clock start of the bucket: the local hour, midnight of the day, the Monday of
--   the week, the first of the month, or from itself for 'period'; the first week or month of
--   a period that starts inside it holds only the days in the period; after a clock change
--   backwards the repeated local hour is a single 'hour' bucket); licenses (int,
--   tenants.licenses today: the table keeps no history); soft_ceiling (bigint, the hard
--   ceiling: licenses + floor(licenses / 2) when licenses >= 6, otherwise licenses; fixed
--   here rather than read from the cdrlake.license_soft_ceiling_* settings); calls (bigint,
--   call attempts in the bucket); normal, surged, rejected (bigint, attempts with that
--   decision); overage (bigint, surged + rejected); overage_pct (double, 100 * overage /
--   calls, rounded to 2 decimals); simulated (bigint, attempts whose decision was simulated
--   because license_decision was NULL). A row exists for each (tenant, bucket) with at least
--   one call; empty buckets are omitted. Rows are ordered by tenant_id, bucket.
-- @param from | timestamp | date_trunc('day', now()) - INTERVAL '30 days' | Start of the period (tenant-local time, inclusive).
-- @param to | timestamp | date_trunc('day', now()) + INTERVAL '1 day' | End of the period (tenant-local time, exclusive).
-- @param tenant | text | NULL | Only these tenants (comma-separated ids); NULL for all.
-- @param bucket | text | 'day' | 'hour', 'day', 'week', 'month' or 'period' (one row per tenant for the whole period).
WITH t AS (
    SELECT tenant_id, time_zone, licenses,
           CAST(CASE WHEN licenses >= 6 THEN licenses + licenses / 2 ELSE licenses END AS BIGINT)
               AS soft_ceiling
    FROM tenants
    WHERE ($tenant IS NULL OR array_has(string_to_array($tenant, ','), tenant_id))
      AND CAST(CASE WHEN lower(trim(coalesce($bucket, 'day'))) IN ('hour', 'day', 'week', 'month', 'period')
                    THEN '1' ELSE 'license_overage: bucket must be hour, day, week, month or period' END
               AS BIGINT) = 1
), c AS (
    SELECT c.tenant_id, c.call_id, c.license_decision,
           local_time(c.invite_time, t.time_zone) AS local_invite,
           t.licenses, t.soft_ceiling,
           license_use(c.invite_time, c.end_time, t.licenses, t.soft_ceiling)
               OVER (PARTITION BY c.tenant_id ORDER BY c.invite_time, c.call_id) AS simulated
    FROM calls c JOIN t ON t.tenant_id = c.tenant_id
    WHERE c.invite_time >= CAST($from AS TIMESTAMP) AT TIME ZONE 'UTC' - INTERVAL '38 hours'
      AND c.invite_time < CAST($to AS TIMESTAMP) AT TIME ZONE 'UTC' + INTERVAL '14 hours'
      AND local_time(c.invite_time, t.time_zone) >= $from - INTERVAL '1 day'
      AND local_time(c.invite_time, t.time_zone) < $to
), d AS (
    SELECT c.tenant_id, c.licenses, c.soft_ceiling,
           CASE WHEN lower(trim(coalesce($bucket, 'day'))) = 'period'
                THEN arrow_cast(CAST($from AS TIMESTAMP), 'Timestamp(Microsecond, None)')
                ELSE date_trunc(CASE WHEN lower(trim(coalesce($bucket, 'day'))) = 'period' THEN 'day'
                                     ELSE lower(trim(coalesce($bucket, 'day'))) END, c.local_invite)
           END AS bucket,
           coalesce(c.license_decision, c.simulated) AS decision,
           c.license_decision IS NULL AS is_simulated
    FROM c
    WHERE c.local_invite >= $from
)
SELECT tenant_id, bucket, licenses, soft_ceiling,
       count(*) AS calls,
       count(*) FILTER (WHERE decision = 'normal') AS normal,
       count(*) FILTER (WHERE decision = 'surged') AS surged,
       count(*) FILTER (WHERE decision = 'rejected') AS rejected,
       count(*) FILTER (WHERE decision IN ('surged', 'rejected')) AS overage,
       round(100 * CAST(count(*) FILTER (WHERE decision IN ('surged', 'rejected')) AS DOUBLE)
             / nullif(count(*), 0), 2) AS overage_pct,
       count(*) FILTER (WHERE is_simulated) AS simulated
FROM d
GROUP BY tenant_id, bucket, licenses, soft_ceiling
ORDER BY tenant_id, bucket
