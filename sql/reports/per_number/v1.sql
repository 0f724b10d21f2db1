-- @title Per number
-- @seed 001 ConnexCS: Per Number (every call for one number, with call details; at most 6 months)
-- @description Every call to or from one phone number, for a complaint about a number. The
--   number parameter is read with normalize_e164(number) (no default country: E.164 with or
--   without spaces, dashes, brackets, 'tel:'/'sip:', 00/011 prefixes, or a 10/11-digit NANP
--   number); when it is NULL or normalize_e164 cannot read it the report returns no rows. A
--   call matches when its caller_number or its callee_number equals the normalised number.
--   The period is at most 6 months: rows are the calls whose tenant-local invite_time
--   (local_time(invite_time, tenants.time_zone)) is >= greatest(from, to - 6 months)
--   (calendar months, e.g. to 2026-04-01 gives 2025-10-01) and < to, in the tenants the
--   tenant filter allows. One row per matching calls row. Columns: tenant_id; call_id;
--   invite_local (timestamp without zone, the tenant-local wall-clock invite time);
--   invite_time, answer_time, end_time (UTC instants as stored; answer_time NULL when never
--   answered); role ('caller' when the number is the caller_number, 'callee' when it is the
--   callee_number, 'both' when it is both); direction; media; caller_number; callee_number;
--   dialled; customer; provider; duration_s; billable_s; pdd_ms; sip_code; q850_cause;
--   end_reason; disposition; voicemail; customer_charge; provider_cost (decimal(18,6));
--   user_agent; source_ip; all copied unchanged from the calls row. Rows are ordered by
--   invite_time, then tenant_id, then call_id.
-- @param number | text | NULL | The phone number (E.164, e.g. +13055550147); required: NULL returns no rows.
-- @param from | timestamp | date_trunc('day', now()) + INTERVAL '1 day' - INTERVAL '6 months' | Start of the period (tenant-local time, inclusive); never more than 6 months before to.
-- @param to | timestamp | date_trunc('day', now()) + INTERVAL '1 day' | End of the period (tenant-local time, exclusive).
-- @param tenant | text | NULL | Only these tenants (comma-separated ids); NULL for all.
WITH c AS (
    SELECT c.*, local_time(c.invite_time, t.time_zone) AS invite_local,
           normalize_e164($number) AS wanted
    FROM calls c JOIN tenants t ON t.tenant_id = c.tenant_id
    -- The IS NOT NULL test makes a NULL or unreadable number fold to FALSE (no rows).
    WHERE normalize_e164($number) IS NOT NULL
      AND (c.caller_number = normalize_e164($number) OR c.callee_number = normalize_e164($number))
      AND c.invite_time >= CAST(greatest($from, $to - INTERVAL '6 months') AS TIMESTAMP) AT TIME ZONE 'UTC' - INTERVAL '14 hours'
      AND c.invite_time < CAST($to AS TIMESTAMP) AT TIME ZONE 'UTC' + INTERVAL '14 hours'
      AND local_time(c.invite_time, t.time_zone) >= greatest($from, $to - INTERVAL '6 months')
      AND local_time(c.invite_time, t.time_zone) < $to
      AND ($tenant IS NULL OR array_has(string_to_array($tenant, ','), c.tenant_id))
)
SELECT tenant_id, call_id, invite_local, invite_time, answer_time, end_time,
       CASE WHEN caller_number = wanted AND callee_number = wanted THEN 'both'
            WHEN caller_number = wanted THEN 'caller'
            ELSE 'callee' END AS role,
       direction, media, caller_number, callee_number, dialled, customer, provider,
       duration_s, billable_s, pdd_ms, sip_code, q850_cause, end_reason, disposition,
       voicemail, customer_charge, provider_cost, user_agent, source_ip
FROM c
ORDER BY invite_time, tenant_id, call_id
