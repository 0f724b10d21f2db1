"""dtmf_cost, from its header: wholesale legs (customer or provider not NULL) with local
invite_time in [from, to), tenant/customer/provider filters (exact list matches), grouped by
tenant_id, customer, provider; only groups with a DTMF call (dtmf_digits > 0). calls (all rows),
dtmf_calls, dtmf_share_pct, dtmf_digits, dtmf_answered, dtmf_minutes (billable_s / 60 of the DTMF
calls), charge, cost, profit of the DTMF calls (exact decimals), cost_per_digit and
charge_per_digit (exact quotients rounded half away from zero to 6 decimals). Doubles rounded
half away from zero to 2 decimals. Ordered by tenant_id, customer, provider, NULLs last."""

import datetime as dt
import decimal

from _common import in_list, local, ts
from _ref import round_decimal, round_half_away

COLS = ["tenant_id", "customer", "provider", "calls", "dtmf_calls", "dtmf_share_pct", "dtmf_digits",
        "dtmf_answered", "dtmf_minutes", "charge", "cost", "profit", "cost_per_digit", "charge_per_digit"]


def _default(days):
    return dt.datetime.combine(dt.datetime.now(dt.UTC).date(), dt.time()) + dt.timedelta(days=days)


def _per_digit(amount, digits):
    if amount is None or not digits:
        return None
    with decimal.localcontext() as ctx:
        ctx.prec = 80
        return round_decimal(decimal.Decimal(amount) / decimal.Decimal(digits), 6)


def run(con, args):
    tenants = in_list(args.get("tenant"))
    customers = in_list(args.get("customer"))
    providers = in_list(args.get("provider"))
    start = ts(args.get("from")) or _default(-30)
    end = ts(args.get("to")) or _default(1)
    rows = con.execute(
        f"""
        SELECT c.tenant_id, c.customer, c.provider,
               count(*) AS calls,
               count(*) FILTER (WHERE c.dtmf_digits > 0) AS dtmf_calls,
               sum(c.dtmf_digits) FILTER (WHERE c.dtmf_digits > 0) AS dtmf_digits,
               count(*) FILTER (WHERE c.dtmf_digits > 0 AND c.disposition = 'answered') AS dtmf_answered,
               sum(c.billable_s) FILTER (WHERE c.dtmf_digits > 0) AS dtmf_s,
               sum(c.customer_charge) FILTER (WHERE c.dtmf_digits > 0) AS charge,
               sum(c.provider_cost) FILTER (WHERE c.dtmf_digits > 0) AS cost
        FROM calls c JOIN tenants t USING (tenant_id)
        WHERE (c.customer IS NOT NULL OR c.provider IS NOT NULL)
          AND {local('c.invite_time')} >= ? AND {local('c.invite_time')} < ?
          AND (? IS NULL OR list_contains(?, c.tenant_id))
          AND (? IS NULL OR list_contains(?, c.customer))
          AND (? IS NULL OR list_contains(?, c.provider))
        GROUP BY ALL
        HAVING count(*) FILTER (WHERE c.dtmf_digits > 0) > 0
        ORDER BY c.tenant_id NULLS LAST, c.customer NULLS LAST, c.provider NULLS LAST
        """,
        [start, end, tenants, tenants, customers, customers, providers, providers],
    ).fetchall()
    out = []
    for tenant, cust, prov, calls, dcalls, digits, danswered, dsec, charge, cost in rows:
        profit = None if charge is None or cost is None else charge - cost
        out.append((
            tenant, cust, prov, calls, dcalls, round_half_away(100 * dcalls / calls), int(digits),
            danswered, round_half_away(dsec / 60) if dsec is not None else None,
            charge, cost, profit, _per_digit(cost, digits), _per_digit(charge, digits),
        ))
    return COLS, out
