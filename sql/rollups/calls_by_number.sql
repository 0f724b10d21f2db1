-- Rollup calls_by_number: a number index. One row per call and number it involves (the calling
-- number, and the called number when it differs), with the columns a per-number history shows,
-- sorted by number then time in each event_date partition, so the calls of one number are found
-- by row-group and page statistics in each partition instead of a scan of every call (the calls
-- table is sorted by tenant and time). Rows of calls with neither number are left out.
SELECT event_date,
       tenant_id,
       team_id,
       caller_number AS number,
       call_id,
       invite_time,
       caller_number,
       callee_number,
       duration_s,
       customer_charge
FROM calls
WHERE caller_number IS NOT NULL
UNION ALL
SELECT event_date,
       tenant_id,
       team_id,
       callee_number AS number,
       call_id,
       invite_time,
       caller_number,
       callee_number,
       duration_s,
       customer_charge
FROM calls
WHERE callee_number IS NOT NULL AND (caller_number IS NULL OR caller_number <> callee_number)
