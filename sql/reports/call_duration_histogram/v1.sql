-- @title Call duration distribution
-- @seed 002 RealConnect dashboard: Call Duration
-- @description How long answered calls stayed connected, per tenant, in six fixed buckets of
--   billable_s (seconds from answer to end): 1 '< 1 min' [0, 60), 2 '1-5 min' [60, 300),
--   3 '5-15 min' [300, 900), 4 '15-30 min' [900, 1800), 5 '30-60 min' [1800, 3600),
--   6 '>= 60 min' [3600, unbounded). Counted: calls rows with disposition 'answered' whose
--   local invite_time (local_time(invite_time, tenants.time_zone)) lies in the period, every
--   direction and media, conference legs included (each leg is one call). Columns: tenant_id;
--   bucket_order (bigint, 1 to 6 as above); duration_bucket (text label as above); min_s (bigint,
--   the bucket's lower bound in seconds, inclusive); max_s (bigint, its upper bound, exclusive;
--   NULL for the last bucket); calls (bigint, answered calls in the bucket; 0 for an empty
--   bucket); share_pct (double, 100 * calls / the tenant's answered calls in the period,
--   rounded to 2 decimals); minutes (double, sum of billable_s of those calls / 60, rounded to
--   2 decimals; 0 for an empty bucket). Every tenant with at least one answered call in the
--   period gets all six rows, empty buckets included; other tenants have no rows. Rows are
--   ordered by tenant_id, bucket_order.
-- @param from | timestamp | date_trunc('day', now()) - INTERVAL '30 days' | Start of the period (tenant-local time, inclusive).
-- @param to | timestamp | date_trunc('day', now()) + INTERVAL '1 day' | End of the period (tenant-local time, exclusive).
-- @param tenant | text | NULL | Only these tenants (comma-separated ids); NULL for all.
WITH b(bucket_order, duration_bucket, min_s, max_s) AS (
    VALUES (1, '< 1 min', CAST(0 AS BIGINT), CAST(60 AS BIGINT)),
           (2, '1-5 min', 60, 300),
           (3, '5-15 min', 300, 900),
           (4, '15-30 min', 900, 1800),
           (5, '30-60 min', 1800, 3600),
           (6, '>= 60 min', 3600, NULL)
), c AS (
    SELECT c.tenant_id, c.billable_s
    FROM calls c JOIN tenants t ON t.tenant_id = c.tenant_id
    WHERE c.invite_time >= CAST($from AS TIMESTAMP) AT TIME ZONE 'UTC' - INTERVAL '14 hours'
      AND c.invite_time < CAST($to AS TIMESTAMP) AT TIME ZONE 'UTC' + INTERVAL '14 hours'
      AND local_time(c.invite_time, t.time_zone) >= $from
      AND local_time(c.invite_time, t.time_zone) < $to
      AND ($tenant IS NULL OR array_has(string_to_array($tenant, ','), c.tenant_id))
      AND c.disposition = 'answered'
), g AS (
    SELECT tenant_id,
           count(*) AS answered,
           count(*) FILTER (WHERE billable_s < 60) AS c1,
           count(*) FILTER (WHERE billable_s >= 60 AND billable_s < 300) AS c2,
           count(*) FILTER (WHERE billable_s >= 300 AND billable_s < 900) AS c3,
           count(*) FILTER (WHERE billable_s >= 900 AND billable_s < 1800) AS c4,
           count(*) FILTER (WHERE billable_s >= 1800 AND billable_s < 3600) AS c5,
           count(*) FILTER (WHERE billable_s >= 3600) AS c6,
           coalesce(sum(billable_s) FILTER (WHERE billable_s < 60), 0) AS s1,
           coalesce(sum(billable_s) FILTER (WHERE billable_s >= 60 AND billable_s < 300), 0) AS s2,
           coalesce(sum(billable_s) FILTER (WHERE billable_s >= 300 AND billable_s < 900), 0) AS s3,
           coalesce(sum(billable_s) FILTER (WHERE billable_s >= 900 AND billable_s < 1800), 0) AS s4,
           coalesce(sum(billable_s) FILTER (WHERE billable_s >= 1800 AND billable_s < 3600), 0) AS s5,
           coalesce(sum(billable_s) FILTER (WHERE billable_s >= 3600), 0) AS s6
    FROM c
    GROUP BY tenant_id
), u AS (
    -- One row per tenant and bucket without a join on keys (a cross join with the six buckets).
    SELECT g.tenant_id, g.answered, b.bucket_order, b.duration_bucket, b.min_s, b.max_s,
           CASE b.bucket_order WHEN 1 THEN g.c1 WHEN 2 THEN g.c2 WHEN 3 THEN g.c3
                               WHEN 4 THEN g.c4 WHEN 5 THEN g.c5 ELSE g.c6 END AS calls,
           CASE b.bucket_order WHEN 1 THEN g.s1 WHEN 2 THEN g.s2 WHEN 3 THEN g.s3
                               WHEN 4 THEN g.s4 WHEN 5 THEN g.s5 ELSE g.s6 END AS seconds
    FROM g CROSS JOIN b
)
SELECT tenant_id, bucket_order, duration_bucket, min_s, max_s, calls,
       round(100 * CAST(calls AS DOUBLE) / nullif(answered, 0), 2) AS share_pct,
       round(CAST(seconds AS DOUBLE) / 60, 2) AS minutes
FROM u
ORDER BY tenant_id, bucket_order
