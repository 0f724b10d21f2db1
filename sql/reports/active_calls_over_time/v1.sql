-- @title Active calls over time
-- @seed 002 RealConnect dashboard: Active Calls Over Time (Total Joined, Max Concurrent)
-- @description Connected calls per tenant and tenant-local time bucket, from the concurrency
--   table function (basis 'answered'): a call occupies [answer_time, end_time); calls whose
--   answer_time is NULL (never answered: busy, failed, rejected, ...) count nowhere, whatever
--   their disposition; calls of every direction and media count. Bucket size: the
--   bucket parameter ('minute', 'hour' or 'day', case-insensitive; any other value is an
--   error); when NULL it is chosen from the period length as the dashboard time frames do:
--   'hour' when to <= from + 7 days (Today, 24 Hours, Week), otherwise 'day' (Month, Three
--   Months, Six Months, Year). Buckets are local wall-clock minutes, hours or days in the
--   tenant's time zone (tenants.time_zone), so a local day is 23 or 25 hours long across a
--   daylight-saving change, and after a clock change backwards one local hour occurs twice
--   (two rows, told apart by bucket_start_utc). A bucket belongs to the period when its local
--   start lies in [from, to); a bucket that straddles from or to (possible only when from/to
--   are not on bucket boundaries) is left out. Columns: tenant_id; bucket_size ('minute',
--   'hour' or 'day', the size used); bucket (timestamp, local wall-clock start of the bucket);
--   bucket_start_utc (timestamp with time zone UTC, the same instant in UTC); total_joined
--   (bigint: calls whose answer_time falls in [bucket start, next bucket start)); max_concurrent
--   (bigint: the peak number of calls in progress at any instant of the bucket, counting calls
--   answered in earlier buckets and still connected at the bucket start; a call ending exactly
--   when another is answered does not overlap it; calls with end_time <= answer_time occupy
--   nothing but still count in total_joined). Every bucket of the period is listed, zeros
--   included, for each tenant that has at least one bucket in the period with total_joined > 0
--   or max_concurrent > 0; other tenants have no rows. When to <= from the result is
--   empty (or the query fails when to is more than 28 hours before from). Rows are ordered
--   by tenant_id, bucket_start_utc.
-- @param from | timestamp | date_trunc('day', now()) - INTERVAL '30 days' | Start of the period (tenant-local time, inclusive).
-- @param to | timestamp | date_trunc('day', now()) + INTERVAL '1 day' | End of the period (tenant-local time, exclusive).
-- @param tenant | text | NULL | Only these tenants (comma-separated ids); NULL for all.
-- @param bucket | text | NULL | 'minute', 'hour' or 'day'; NULL: 'hour' for periods up to 7 days, 'day' for longer ones.
WITH b AS (
    SELECT c.tenant_id, c.bucket_local, c.bucket_start, c.total_joined, c.max_concurrent
    FROM concurrency(
            coalesce($bucket, CASE WHEN $to <= $from + INTERVAL '7 days' THEN 'hour' ELSE 'day' END),
            CAST($from AS TIMESTAMP) AT TIME ZONE 'UTC' - INTERVAL '14 hours',
            CAST($to AS TIMESTAMP) AT TIME ZONE 'UTC' + INTERVAL '14 hours') c
    WHERE c.bucket_local >= $from
      AND c.bucket_local < $to
      -- a bucket that straddles to (to not on a bucket boundary) is left out
      AND c.bucket_local
          + CASE lower(trim(coalesce($bucket, CASE WHEN $to <= $from + INTERVAL '7 days' THEN 'hour' ELSE 'day' END)))
                WHEN 'minute' THEN INTERVAL '1 minute'
                WHEN 'hour' THEN INTERVAL '1 hour'
                ELSE INTERVAL '1 day' END
          <= $to
      AND ($tenant IS NULL OR array_has(string_to_array($tenant, ','), c.tenant_id))
), a AS (
    SELECT b.*, max(b.total_joined + b.max_concurrent) OVER (PARTITION BY b.tenant_id) AS activity
    FROM b
)
SELECT tenant_id,
       lower(trim(coalesce($bucket, CASE WHEN $to <= $from + INTERVAL '7 days' THEN 'hour' ELSE 'day' END))) AS bucket_size,
       bucket_local AS bucket,
       bucket_start AS bucket_start_utc,
       total_joined,
       max_concurrent
FROM a
WHERE activity > 0
ORDER BY tenant_id, bucket_start_utc
