-- Rollup concurrency_slots: connected calls per tenant and UTC quarter hour, for the days
-- [$from, $to) (UTC midnights, filled in by the refresh). One row per (tenant_id, slot_start)
-- with joined (calls answered in the quarter hour, those that end when or before they are
-- answered included) and max_concurrent (the peak number of calls in [answer_time, end_time)
-- at any instant of the quarter hour, counting calls answered earlier, whichever day); only
-- quarter hours with joined > 0 or max_concurrent > 0. event_date is the UTC date of
-- slot_start. Source: calls (every partition whose calls are connected on those days).
SELECT CAST(c.bucket_start AS DATE) AS event_date,
       c.tenant_id,
       c.bucket_start AS slot_start,
       c.total_joined AS joined,
       c.max_concurrent
FROM concurrency('quarter_hour', $from, $to) c
WHERE c.total_joined > 0 OR c.max_concurrent > 0
