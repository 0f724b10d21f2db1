-- Rollup calls_daily: calls per tenant, team, wholesale customer and provider, UTC date
-- (event_date, the partition of the calls rows it summarises) and tenant-local date: attempts,
-- answered calls, billable seconds, customer charge and provider cost (decimal sums), and the
-- calls the licence check surged or rejected; and the same for the calls that carried DTMF
-- (dtmf_digits > 0): calls, digits, answered calls, billable seconds, charge and cost. For the wholesale breakout per day or month, the
-- top customers, licence overage, the DTMF cost report and any other per-day count. Unlike the hourly rollups it keeps
-- the calls of a tenant missing from tenants (their local date is the UTC date), so its totals
-- are the calls table's totals.
SELECT c.event_date,
       c.tenant_id,
       c.team_id,
       c.customer,
       c.provider,
       CAST(local_time(c.invite_time, coalesce(t.time_zone, 'UTC')) AS DATE) AS local_date,
       count(*) AS attempts,
       count(c.answer_time) AS answered,
       sum(c.billable_s) AS billable_s,
       sum(c.customer_charge) AS customer_charge,
       sum(c.provider_cost) AS provider_cost,
       count(*) FILTER (WHERE c.license_decision = 'surged') AS surged,
       count(*) FILTER (WHERE c.license_decision = 'rejected') AS rejected,
       count(*) FILTER (WHERE c.dtmf_digits > 0) AS dtmf_calls,
       sum(CAST(c.dtmf_digits AS BIGINT)) FILTER (WHERE c.dtmf_digits > 0) AS dtmf_digits,
       count(*) FILTER (WHERE c.dtmf_digits > 0 AND c.disposition = 'answered') AS dtmf_answered,
       sum(c.billable_s) FILTER (WHERE c.dtmf_digits > 0) AS dtmf_billable_s,
       sum(c.customer_charge) FILTER (WHERE c.dtmf_digits > 0) AS dtmf_charge,
       sum(c.provider_cost) FILTER (WHERE c.dtmf_digits > 0) AS dtmf_cost
FROM calls c LEFT JOIN tenants t ON t.tenant_id = c.tenant_id
GROUP BY c.event_date, c.tenant_id, c.team_id, c.customer, c.provider,
         CAST(local_time(c.invite_time, coalesce(t.time_zone, 'UTC')) AS DATE)
