"""per_number, from its header: every call whose caller_number or callee_number equals the number
parameter read as E.164 (normalize_e164 without a default country; no rows when it is NULL or
unreadable), with local invite_time in [greatest(from, to - 6 months), to) and in the tenants the
filter allows; one row per call with its local invite time, its UTC times, the number's role
(caller, callee or both) and columns copied from the calls row. Ordered by invite_time,
tenant_id, call_id."""

import datetime as dt
import re

from _common import in_list, local, ts

COLS = ["tenant_id", "call_id", "invite_local", "invite_time", "answer_time", "end_time", "role",
        "direction", "media", "caller_number", "callee_number", "dialled", "customer", "provider",
        "duration_s", "billable_s", "pdd_ms", "sip_code", "q850_cause", "end_reason", "disposition",
        "voicemail", "customer_charge", "provider_cost", "user_agent", "source_ip"]

E164 = re.compile(r"\+[1-9][0-9]{6,14}")


def normalize_e164(number):
    """normalize_e164(number) with no default country (docs/functions.md): E.164 with or without
    spaces, dashes, dots, brackets, 'tel:' / 'sip:' URIs, 00 / 011 international prefixes, or a
    10- or 11-digit NANP national number; None for anything else (withheld words included)."""
    if number is None:
        return None
    s = number.strip()
    low = s.lower()
    for scheme in ("tel:", "sips:", "sip:"):
        if low.startswith(scheme):
            s = s[len(scheme):]
            s = re.split(r"[@;]", s, maxsplit=1)[0]
            break
    s = re.sub(r"[\s\-.()\[\]/]", "", s)
    if s.startswith("+"):
        out = s
    elif not s.isdigit():
        return None
    elif s.startswith("011"):
        out = "+" + s[3:]
    elif s.startswith("00"):
        out = "+" + s[2:]
    elif len(s) == 10:
        out = "+1" + s
    elif len(s) == 11 and s.startswith("1"):
        out = "+" + s
    else:
        return None
    return out if E164.fullmatch(out) else None


def _default_to():
    return dt.datetime.combine(dt.datetime.now(dt.UTC).date(), dt.time()) + dt.timedelta(days=1)


def run(con, args):
    number = normalize_e164(args.get("param:number"))
    if number is None:
        return COLS, []
    tenants = in_list(args.get("tenant"))
    end = ts(args.get("to")) or _default_to()
    start = ts(args.get("from"))
    rows = con.execute(
        f"""
        SELECT c.tenant_id, c.call_id, {local('c.invite_time')} AS invite_local,
               timezone('UTC', c.invite_time) AS invite_time, timezone('UTC', c.answer_time) AS answer_time,
               timezone('UTC', c.end_time) AS end_time,
               CASE WHEN c.caller_number = $n AND c.callee_number = $n THEN 'both'
                    WHEN c.caller_number = $n THEN 'caller' ELSE 'callee' END AS role,
               c.direction, c.media, c.caller_number, c.callee_number, c.dialled, c.customer, c.provider,
               c.duration_s, c.billable_s, c.pdd_ms, c.sip_code, c.q850_cause, c.end_reason,
               c.disposition, c.voicemail, c.customer_charge, c.provider_cost, c.user_agent, c.source_ip
        FROM calls c JOIN tenants t USING (tenant_id)
        WHERE (c.caller_number = $n OR c.callee_number = $n)
          AND {local('c.invite_time')} >= greatest(coalesce(CAST($from AS TIMESTAMP), CAST($default_to AS TIMESTAMP) - INTERVAL 6 MONTH),
                                                   CAST($to AS TIMESTAMP) - INTERVAL 6 MONTH)
          AND {local('c.invite_time')} < CAST($to AS TIMESTAMP)
          AND ($tenants IS NULL OR list_contains($tenants, c.tenant_id))
        ORDER BY c.invite_time, c.tenant_id, c.call_id
        """,
        {"n": number, "from": start, "to": end, "tenants": tenants, "default_to": _default_to()},
    ).fetchall()
    return COLS, rows
