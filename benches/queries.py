"""The query set of benches/compare.py: each query is a real report question over the calls
(and streams) of a generated lake, written once per engine.

Every query has:
- `kind`: "report" (a report-shaped question: target at most 0.5x the best peer) or "adhoc"
  (ad-hoc SQL over raw calls: geometric mean target at most 1.0x);
- `sql`: the portable SQL DuckDB and plain DataFusion run (and cdrlake, unless `cdrlake` is
  given), with `{calls}`, `{streams}` and `{npa}` for the tables and `{name}` for parameters;
- `chdb`: ClickHouse SQL when the portable SQL does not run there (chDB otherwise runs `sql`);
- `cdrlake`: what cdrlake runs when it answers from something a general engine does not have
  (a rollup, the concurrency operator, a domain function);
- `polars`: a function (frames, params) -> LazyFrame or DataFrame, Polars' own API.

The semantics are written down in `doc`; every engine's answer is compared with the others
(same rows; money exactly equal, ratios to 1e-9), so an engine that answers another question
fails the run. Period parameters are computed from the data by compare.py: `d0`/`d1` UTC dates
(a half-open range of event_date partitions), `t0`/`t1` UTC instants, `l0`/`l1` the same
instants as tenant-local wall-clock times, `tz` the tenant's time zone.
"""

from __future__ import annotations

import polars as pl

# Shared fragments ------------------------------------------------------------------------

def _money(attempts, answered, billable, charge, cost):
    """The breakout measures, from raw columns or from a rollup's sums (ratios over the group,
    never averaged)."""
    return f"""{attempts} AS attempts,
       {answered} AS answered,
       CAST({answered} AS DOUBLE) / {attempts} AS asr,
       CASE WHEN {answered} > 0
            THEN CAST({billable} AS DOUBLE) / {answered} END AS acd_s,
       {charge} AS charge,
       {cost} AS cost,
       {charge} - {cost} AS profit,
       CASE WHEN {charge} <> 0
            THEN CAST({charge} - {cost} AS DOUBLE)
                 / CAST({charge} AS DOUBLE) END AS margin"""


MONEY_OUT = _money("count(*)", "count(answer_time)", "sum(billable_s)", "sum(customer_charge)", "sum(provider_cost)")
# The same measures from the calls_daily rollup (sums of per-day sums: exact, decimal money).
MONEY_ROLLUP = _money("sum(attempts)", "sum(answered)", "sum(billable_s)", "sum(customer_charge)",
                      "sum(provider_cost)")


def _money_polars(lf: pl.LazyFrame, keys: list[str]) -> pl.LazyFrame:
    out = lf.group_by(keys).agg(
        pl.len().alias("attempts"),
        pl.col("answer_time").count().alias("answered"),
        pl.col("billable_s").sum().alias("_billable"),
        pl.col("customer_charge").sum().alias("charge"),
        pl.col("provider_cost").sum().alias("cost"),
    )
    return out.with_columns(
        (pl.col("answered").cast(pl.Float64) / pl.col("attempts")).alias("asr"),
        pl.when(pl.col("answered") > 0)
        .then(pl.col("_billable").cast(pl.Float64) / pl.col("answered")).alias("acd_s"),
        (pl.col("charge") - pl.col("cost")).alias("profit"),
        pl.when(pl.col("charge") != 0)
        .then((pl.col("charge") - pl.col("cost")).cast(pl.Float64) / pl.col("charge").cast(pl.Float64))
        .alias("margin"),
    ).drop("_billable")


def _days(f, p):
    return f["calls"].filter((pl.col("event_date") >= pl.lit(p["d0"]).str.to_date())
                             & (pl.col("event_date") < pl.lit(p["d1"]).str.to_date()))


def _instants(lf, p, col="invite_time"):
    t0 = pl.lit(p["t0"]).str.to_datetime(time_unit="us", time_zone="UTC")
    t1 = pl.lit(p["t1"]).str.to_datetime(time_unit="us", time_zone="UTC")
    return lf.filter((pl.col(col) >= t0) & (pl.col(col) < t1))


def _tenant_window(f, p):
    lf = f["calls"].filter((pl.col("tenant_id") == p["tenant"])
                           & (pl.col("event_date") >= pl.lit(p["d0"]).str.to_date())
                           & (pl.col("event_date") < pl.lit(p["d1"]).str.to_date()))
    return _instants(lf, p)


# Concurrency: sort and sweep written in SQL (peers have no operator for it). A call occupies
# [answer_time, end_time); the level at an instant is the sum of every event up to and
# including it (a RANGE frame: all events at the same instant at once, so a call ending when
# another starts does not overlap it, and two calls ending on the hour mark are both gone at
# it); the hour marks (delta 0, one per tenant and hour of the period) carry the level into
# hours without events.
CONCURRENCY_SQL = """
WITH c AS (
  SELECT tenant_id, answer_time, end_time FROM {calls}
  WHERE answer_time IS NOT NULL AND answer_time < {t1} AND (answer_time >= {t0} OR end_time > {t0})
        {tenant_filter}
), ev AS (
  SELECT tenant_id, answer_time AS t, CASE WHEN end_time > answer_time THEN 1 ELSE 0 END AS d, 1 AS j FROM c
  UNION ALL
  SELECT tenant_id, end_time AS t, -1 AS d, 0 AS j FROM c WHERE end_time > answer_time
  UNION ALL
  SELECT tn.tenant_id, {hour_ts} AS t, 0 AS d, 0 AS j
  FROM (SELECT DISTINCT tenant_id FROM c) tn CROSS JOIN {hours} AS g(h)
), lv AS (
  SELECT tenant_id, t, j,
         sum(d) OVER (PARTITION BY tenant_id ORDER BY t RANGE BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS level
  FROM ev
)
SELECT tenant_id, date_trunc('hour', t) AS hour, sum(j) AS joined, max(level) AS max_concurrent
FROM lv WHERE t >= {t0} AND t < {t1}
GROUP BY tenant_id, date_trunc('hour', t)
HAVING sum(j) > 0 OR max(level) > 0
"""

CONCURRENCY_CHDB = """
WITH c AS (
  SELECT tenant_id, answer_time, end_time FROM {calls}
  WHERE answer_time IS NOT NULL AND answer_time < {t1} AND (answer_time >= {t0} OR end_time > {t0})
        {tenant_filter}
), ev AS (
  SELECT tenant_id, assumeNotNull(answer_time) AS t, toInt64(if(end_time > answer_time, 1, 0)) AS d, toInt64(1) AS j FROM c
  UNION ALL
  SELECT tenant_id, assumeNotNull(end_time) AS t, toInt64(-1) AS d, toInt64(0) AS j FROM c WHERE end_time > answer_time
  UNION ALL
  SELECT tn.tenant_id, toDateTime64(number * 3600, 6, 'UTC') AS t, toInt64(0) AS d, toInt64(0) AS j
  FROM (SELECT DISTINCT tenant_id FROM c) tn CROSS JOIN numbers({h0}, {h1} - {h0}) AS g
), lv AS (
  SELECT tenant_id, t, j,
         sum(d) OVER (PARTITION BY tenant_id ORDER BY t RANGE BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS level
  FROM ev
)
SELECT tenant_id, toDateTime64(toStartOfHour(t), 6, 'UTC') AS hour, sum(j) AS joined, max(level) AS max_concurrent
FROM lv WHERE t >= {t0} AND t < {t1}
GROUP BY tenant_id, toStartOfHour(t)
HAVING sum(j) > 0 OR max(level) > 0
"""


def _concurrency_polars(f, p, tenant=None):
    t0 = pl.lit(p["t0"]).str.to_datetime(time_unit="us", time_zone="UTC")
    t1 = pl.lit(p["t1"]).str.to_datetime(time_unit="us", time_zone="UTC")
    c = f["calls"]
    if tenant is not None:
        c = c.filter(pl.col("tenant_id") == tenant)
    c = c.filter(pl.col("answer_time").is_not_null() & (pl.col("answer_time") < t1)
                 & ((pl.col("answer_time") >= t0) | (pl.col("end_time") > t0))
                 ).select("tenant_id", "answer_time", "end_time")
    starts = c.select("tenant_id", pl.col("answer_time").alias("t"),
                      pl.when(pl.col("end_time") > pl.col("answer_time")).then(1).otherwise(0).cast(pl.Int64).alias("d"),
                      pl.lit(1, pl.Int64).alias("j"))
    ends = c.filter(pl.col("end_time") > pl.col("answer_time")).select(
        "tenant_id", pl.col("end_time").alias("t"), pl.lit(-1, pl.Int64).alias("d"), pl.lit(0, pl.Int64).alias("j"))
    hours = pl.LazyFrame({"h": pl.int_range(p["h0"], p["h1"], eager=True)}).select(
        (pl.col("h") * 3_600_000_000).cast(pl.Datetime("us", "UTC")).alias("t"))
    marks = c.select("tenant_id").unique().join(hours, how="cross").select(
        "tenant_id", "t", pl.lit(0, pl.Int64).alias("d"), pl.lit(0, pl.Int64).alias("j"))
    ev = (pl.concat([starts, ends, marks]).group_by("tenant_id", "t")
          .agg(pl.col("d").sum(), pl.col("j").sum()).sort(["tenant_id", "t"]))
    lv = ev.with_columns(pl.col("d").cum_sum().over("tenant_id").alias("level"))
    return (lv.filter((pl.col("t") >= t0) & (pl.col("t") < t1))
            .group_by("tenant_id", pl.col("t").dt.truncate("1h").alias("hour"))
            .agg(pl.col("j").sum().alias("joined"), pl.col("level").max().alias("max_concurrent"))
            .filter((pl.col("joined") > 0) | (pl.col("max_concurrent") > 0)))


POOR_AUDIO = ("degradation_avg > 1.0 OR rtt_avg_ms > 500 OR loss_rate_avg > 0.1 "
              "OR jitter_avg_ms > 30 OR concealed_ratio > 0.07")


def _poor_polars():
    return ((pl.col("degradation_avg") > 1.0) | (pl.col("rtt_avg_ms") > 500) | (pl.col("loss_rate_avg") > 0.1)
            | (pl.col("jitter_avg_ms") > 30) | (pl.col("concealed_ratio") > 0.07)).fill_null(False)


LOCAL_SELECT = {
    # Per engine: the tenant-local wall-clock time of invite_time, for {tz}.
    "duckdb": "timezone({tz}, invite_time)",
    "datafusion": "invite_time AT TIME ZONE {tz}",
}

QUERIES: dict[str, dict] = {}


def q(name, **kw):
    QUERIES[name] = kw


# Report-shaped ---------------------------------------------------------------------------

q("breakout_customer_day", kind="report",
  doc="Wholesale breakout per customer and UTC day over the last 30 days: attempts, answered, "
      "ASR, ACD, charge, cost, profit, margin (ratios over the group, never averaged).",
  sql=f"""SELECT customer, event_date AS day, {MONEY_OUT}
FROM {{calls}} WHERE event_date >= {{d0}} AND event_date < {{d1}} AND customer IS NOT NULL
GROUP BY customer, event_date""",
  cdrlake=f"""SELECT customer, event_date AS day, {MONEY_ROLLUP}
FROM calls_daily WHERE event_date >= {{d0}} AND event_date < {{d1}} AND customer IS NOT NULL
GROUP BY customer, event_date""",
  polars=lambda f, p: _money_polars(_days(f, p).filter(pl.col("customer").is_not_null())
                                    .rename({"event_date": "day"}), ["customer", "day"]))

q("breakout_provider_month", kind="report",
  doc="Breakout per provider and UTC month over all data.",
  sql=f"""SELECT provider, date_trunc('month', event_date) AS month, {MONEY_OUT}
FROM {{calls}} WHERE provider IS NOT NULL
GROUP BY provider, date_trunc('month', event_date)""",
  chdb=f"""SELECT provider, toStartOfMonth(event_date) AS month, {MONEY_OUT}
FROM {{calls}} WHERE provider IS NOT NULL
GROUP BY provider, toStartOfMonth(event_date)""",
  cdrlake=f"""SELECT provider, date_trunc('month', event_date) AS month, {MONEY_ROLLUP}
FROM calls_daily WHERE provider IS NOT NULL
GROUP BY provider, date_trunc('month', event_date)""",
  polars=lambda f, p: _money_polars(f["calls"].filter(pl.col("provider").is_not_null())
                                    .with_columns(pl.col("event_date").dt.truncate("1mo").alias("month")),
                                    ["provider", "month"]))

q("top_customers_by_charge", kind="report",
  doc="The 20 customers with the highest charge over the last 30 days.",
  sql="""SELECT customer, sum(customer_charge) AS charge, count(*) AS calls
FROM {calls} WHERE event_date >= {d0} AND event_date < {d1} AND customer IS NOT NULL
GROUP BY customer ORDER BY charge DESC, customer LIMIT 20""",
  cdrlake="""SELECT customer, sum(customer_charge) AS charge, sum(attempts) AS calls
FROM calls_daily WHERE event_date >= {d0} AND event_date < {d1} AND customer IS NOT NULL
GROUP BY customer ORDER BY charge DESC, customer LIMIT 20""",
  polars=lambda f, p: _days(f, p).filter(pl.col("customer").is_not_null()).group_by("customer").agg(
      pl.col("customer_charge").sum().alias("charge"), pl.len().alias("calls"))
  .sort(["charge", "customer"], descending=[True, False]).head(20))

NUMBER_COLS = "call_id, invite_time, caller_number, callee_number, duration_s, customer_charge"


def _number_polars(key):
    def run(f, p):
        n = p[key]
        t0 = pl.lit(p["t0"]).str.to_datetime(time_unit="us", time_zone="UTC")
        return (f["calls"].filter((pl.col("event_date") >= pl.lit(p["d0"]).str.to_date()) & (pl.col("invite_time") >= t0))
                .filter((pl.col("caller_number") == n) | (pl.col("callee_number") == n))
                .select(NUMBER_COLS.split(", ")).sort(["invite_time", "call_id"]))
    return run


for _key, _what in (("common_number", "the most frequent callee number"),
                    ("rare_number", "a number in one call only")):
    q(f"number_history_{_key.split('_')[0]}", kind="report",
      doc=f"Every call to or from {_what} (caller OR callee) over the last 6 months, in time order.",
      sql=f"""SELECT {NUMBER_COLS} FROM {{calls}}
WHERE (caller_number = {{{_key}}} OR callee_number = {{{_key}}}) AND event_date >= {{d0}} AND invite_time >= {{t0}}
ORDER BY invite_time, call_id""",
      # The calls_by_number rollup: sorted by number, so statistics find the number's page
      # in each partition (the calls table is sorted by tenant and time).
      cdrlake=f"""SELECT {NUMBER_COLS} FROM calls_by_number
WHERE number = {{{_key}}} AND event_date >= {{d0}} AND invite_time >= {{t0}}
ORDER BY invite_time, call_id""",
      polars=_number_polars(_key), params="six_months")

q("latest_calls_of_customer", kind="report",
  doc="The latest 100 calls of the biggest customer.",
  sql=f"""SELECT {NUMBER_COLS} FROM {{calls}} WHERE customer = {{customer}}
ORDER BY invite_time DESC, call_id LIMIT 100""",
  polars=lambda f, p: f["calls"].filter(pl.col("customer") == p["customer"]).select(NUMBER_COLS.split(", "))
  .sort(["invite_time", "call_id"], descending=[True, False]).head(100))

q("usa_calls_by_state", kind="report",
  doc="Calls to US numbers by the state of the called number's area code (NANP geographic "
      "area codes of the US, territories included) over the last 30 days: calls, connected, "
      "billable minutes.",
  sql="""SELECT n.region AS state, count(*) AS calls, count(c.answer_time) AS connected,
       CAST(sum(c.billable_s) AS DOUBLE) / 60 AS minutes
FROM {calls} c JOIN {npa} n ON n.npa = substr(c.callee_number, 3, 3)
WHERE c.event_date >= {d0} AND c.event_date < {d1} AND c.callee_number LIKE '+1%'
  AND length(c.callee_number) = 12 AND n.country = 'US' AND n.kind = 'geographic'
GROUP BY n.region""",
  cdrlake="""SELECT npa_state(callee_number) AS state, count(*) AS calls, count(answer_time) AS connected,
       CAST(sum(billable_s) AS DOUBLE) / 60 AS minutes
FROM calls
WHERE event_date >= {d0} AND event_date < {d1} AND callee_number LIKE '+1%'
  AND jurisdiction(caller_number, callee_number) <> 'international' AND npa_state(callee_number) IS NOT NULL
GROUP BY npa_state(callee_number)""",
  polars=lambda f, p: _days(f, p).filter(pl.col("callee_number").str.starts_with("+1")
                                         & (pl.col("callee_number").str.len_chars() == 12))
  .with_columns(pl.col("callee_number").str.slice(2, 3).alias("npa"))
  .join(f["npa"].filter((pl.col("country") == "US") & (pl.col("kind") == "geographic"))
        .select("npa", pl.col("region").alias("state")), on="npa")
  .group_by("state").agg(
      pl.len().alias("calls"), pl.col("answer_time").count().alias("connected"),
      (pl.col("billable_s").sum().cast(pl.Float64) / 60).alias("minutes")))

q("call_quality_monthly", kind="report",
  doc="Audio streams per UTC month: streams, poor streams (Microsoft CQD audio rule: "
      "degradation > 1.0, round trip > 500 ms, loss > 10 %, jitter > 30 ms or concealed > 7 %), "
      "poor share.",
  sql=f"""SELECT date_trunc('month', event_date) AS month, count(*) AS streams,
       sum(CASE WHEN {POOR_AUDIO} THEN 1 ELSE 0 END) AS poor,
       CAST(sum(CASE WHEN {POOR_AUDIO} THEN 1 ELSE 0 END) AS DOUBLE) / count(*) AS poor_share
FROM {{streams}} WHERE media = 'audio'
GROUP BY date_trunc('month', event_date)""",
  chdb=f"""SELECT toStartOfMonth(event_date) AS month, count(*) AS streams,
       sum(CASE WHEN {POOR_AUDIO} THEN 1 ELSE 0 END) AS poor,
       CAST(sum(CASE WHEN {POOR_AUDIO} THEN 1 ELSE 0 END) AS DOUBLE) / count(*) AS poor_share
FROM {{streams}} WHERE media = 'audio'
GROUP BY toStartOfMonth(event_date)""",
  polars=lambda f, p: f["streams"].filter(pl.col("media") == "audio")
  .group_by(pl.col("event_date").dt.truncate("1mo").alias("month"))
  .agg(pl.len().alias("streams"), _poor_polars().sum().cast(pl.Int64).alias("poor"))
  .with_columns((pl.col("poor").cast(pl.Float64) / pl.col("streams")).alias("poor_share")))

q("concurrency_per_hour_all", kind="report",
  doc="Per tenant and hour over all data: calls answered in the hour (joined) and the peak "
      "number of connected calls at any instant of the hour, counting calls connected before "
      "it (a call occupies [answer_time, end_time)). Hours with neither are left out.",
  sql=CONCURRENCY_SQL, chdb=CONCURRENCY_CHDB, params="all_hours", tenant_filter="",
  cdrlake="""SELECT tenant_id, bucket_start AS hour, total_joined AS joined, max_concurrent
FROM concurrency('hour', {t0}, {t1}) WHERE total_joined > 0 OR max_concurrent > 0""",
  polars=lambda f, p: _concurrency_polars(f, p))

q("concurrency_tenant_day", kind="report",
  doc="The same for the biggest tenant on its last full local day.",
  sql=CONCURRENCY_SQL, chdb=CONCURRENCY_CHDB, params="tenant_day", tenant_filter="AND tenant_id = {tenant}",
  cdrlake="""SELECT tenant_id, bucket_start AS hour, total_joined AS joined, max_concurrent
FROM concurrency('hour', {t0}, {t1}) WHERE tenant_id = {tenant} AND (total_joined > 0 OR max_concurrent > 0)""",
  polars=lambda f, p: _concurrency_polars(f, p, p["tenant"]))

q("license_overage", kind="report",
  doc="Licence decisions per tenant and UTC day over the last 30 days: calls surged (over the "
      "licence count, under the soft ceiling) and rejected (over the ceiling).",
  sql="""SELECT tenant_id, event_date AS day,
       sum(CASE WHEN license_decision = 'surged' THEN 1 ELSE 0 END) AS surged,
       sum(CASE WHEN license_decision = 'rejected' THEN 1 ELSE 0 END) AS rejected
FROM {calls} WHERE event_date >= {d0} AND event_date < {d1} AND license_decision IN ('surged', 'rejected')
GROUP BY tenant_id, event_date""",
  cdrlake="""SELECT tenant_id, event_date AS day, sum(surged) AS surged, sum(rejected) AS rejected
FROM calls_daily WHERE event_date >= {d0} AND event_date < {d1}
GROUP BY tenant_id, event_date HAVING sum(surged) + sum(rejected) > 0""",
  polars=lambda f, p: _days(f, p).filter(pl.col("license_decision").is_in(["surged", "rejected"]))
  .group_by("tenant_id", pl.col("event_date").alias("day")).agg(
      (pl.col("license_decision") == "surged").sum().cast(pl.Int64).alias("surged"),
      (pl.col("license_decision") == "rejected").sum().cast(pl.Int64).alias("rejected")))

q("end_reasons_tenant_week", kind="report",
  doc="End reasons of the biggest tenant's calls over its last full local week (Monday to "
      "Monday, tenant time zone): calls per end reason.",
  params="tenant_week",
  sql="""SELECT end_reason, count(*) AS calls FROM {calls}
WHERE tenant_id = {tenant} AND event_date >= {d0} AND event_date < {d1}
  AND invite_time >= {t0} AND invite_time < {t1}
GROUP BY end_reason""",
  cdrlake="""SELECT end_reason, sum(calls) AS calls FROM calls_hourly
WHERE tenant_id = {tenant} AND event_date >= {d0} AND event_date < {d1}
  AND local_hour >= {l0} AND local_hour < {l1}
GROUP BY end_reason""",
  polars=lambda f, p: _tenant_window(f, p).group_by("end_reason").agg(pl.len().cast(pl.Int64).alias("calls")))

q("hourly_volume_tenant_week", kind="report",
  doc="The biggest tenant's calls per local hour over its last full local week: calls, "
      "answered, not answered (hour as 'YYYY-MM-DD HH', local wall clock).",
  params="tenant_week",
  sql="""SELECT {hour_text} AS hour, sum(n) AS calls, sum(a) AS answered, sum(n) - sum(a) AS not_answered
FROM (SELECT date_trunc('hour', {local}) AS h, count(*) AS n,
             sum(CASE WHEN disposition = 'answered' THEN 1 ELSE 0 END) AS a
      FROM {calls}
      WHERE tenant_id = {tenant} AND event_date >= {d0} AND event_date < {d1}
        AND invite_time >= {t0} AND invite_time < {t1}
      GROUP BY date_trunc('hour', {local})) x
GROUP BY {hour_text}""",
  chdb="""SELECT formatDateTime(h, '%Y-%m-%d %H') AS hour, sum(n) AS calls, sum(a) AS answered, sum(n) - sum(a) AS not_answered
FROM (SELECT toStartOfHour(toTimeZone(invite_time, {tz})) AS h, count(*) AS n,
             sum(CASE WHEN disposition = 'answered' THEN 1 ELSE 0 END) AS a
      FROM {calls}
      WHERE tenant_id = {tenant} AND event_date >= {d0} AND event_date < {d1}
        AND invite_time >= {t0} AND invite_time < {t1}
      GROUP BY h)
GROUP BY hour""",
  cdrlake="""SELECT to_char(local_hour, '%Y-%m-%d %H') AS hour, sum(calls) AS calls,
       sum(CASE WHEN disposition = 'answered' THEN calls ELSE 0 END) AS answered,
       sum(CASE WHEN disposition = 'answered' THEN 0 ELSE calls END) AS not_answered
FROM calls_hourly
WHERE tenant_id = {tenant} AND event_date >= {d0} AND event_date < {d1}
  AND local_hour >= {l0} AND local_hour < {l1}
GROUP BY to_char(local_hour, '%Y-%m-%d %H')""",
  polars=lambda f, p: _tenant_window(f, p)
  .group_by(pl.col("invite_time").dt.convert_time_zone(p["tz"]).dt.strftime("%Y-%m-%d %H").alias("hour"))
  .agg(pl.len().cast(pl.Int64).alias("calls"),
       (pl.col("disposition") == "answered").sum().cast(pl.Int64).alias("answered"))
  .with_columns((pl.col("calls") - pl.col("answered")).alias("not_answered")))

q("heatmap_tenant_4weeks", kind="report",
  doc="Time-of-day heatmap of the biggest tenant over its last 4 full local weeks: calls and "
      "answered calls per ISO weekday (1 = Monday) and local hour.",
  params="tenant_4weeks",
  sql="""SELECT {isodow} AS weekday, {hour_of} AS hour, count(*) AS calls,
       sum(CASE WHEN disposition = 'answered' THEN 1 ELSE 0 END) AS answered
FROM (SELECT {local} AS lt, disposition FROM {calls}
      WHERE tenant_id = {tenant} AND event_date >= {d0} AND event_date < {d1}
        AND invite_time >= {t0} AND invite_time < {t1}) x
GROUP BY {isodow}, {hour_of}""",
  chdb="""SELECT toDayOfWeek(invite_time, 0, {tz}) AS weekday, toHour(toTimeZone(invite_time, {tz})) AS hour,
       count(*) AS calls, sum(CASE WHEN disposition = 'answered' THEN 1 ELSE 0 END) AS answered
FROM {calls}
WHERE tenant_id = {tenant} AND event_date >= {d0} AND event_date < {d1}
  AND invite_time >= {t0} AND invite_time < {t1}
GROUP BY weekday, hour""",
  cdrlake="""SELECT CAST((date_part('dow', local_hour) + 6) % 7 + 1 AS INT) AS weekday,
       CAST(date_part('hour', local_hour) AS INT) AS hour, sum(calls) AS calls,
       sum(CASE WHEN disposition = 'answered' THEN calls ELSE 0 END) AS answered
FROM calls_hourly
WHERE tenant_id = {tenant} AND event_date >= {d0} AND event_date < {d1}
  AND local_hour >= {l0} AND local_hour < {l1}
GROUP BY 1, 2""",
  polars=lambda f, p: _tenant_window(f, p)
  .with_columns(pl.col("invite_time").dt.convert_time_zone(p["tz"]).alias("lt"))
  .group_by(pl.col("lt").dt.weekday().cast(pl.Int32).alias("weekday"), pl.col("lt").dt.hour().cast(pl.Int32).alias("hour"))
  .agg(pl.len().cast(pl.Int64).alias("calls"),
       (pl.col("disposition") == "answered").sum().cast(pl.Int64).alias("answered")))

# Ad-hoc over raw calls -------------------------------------------------------------------

q("longest_calls", kind="adhoc",
  doc="SELECT * of the 10 longest calls (ties by call id).",
  sql="SELECT * FROM {calls} ORDER BY duration_s DESC, call_id LIMIT 10",
  polars=lambda f, p: f["calls"].sort(["duration_s", "call_id"], descending=[True, False], nulls_last=True).head(10))

q("top_destinations", kind="adhoc",
  doc="The 20 destination prefixes (first 4 digits of the called number) with the most calls "
      "over the last 30 days: calls, answered, billable minutes, charge.",
  sql="""SELECT substr(callee_number, 1, 5) AS destination, count(*) AS calls, count(answer_time) AS answered,
       CAST(sum(billable_s) AS DOUBLE) / 60 AS minutes, sum(customer_charge) AS charge
FROM {calls} WHERE event_date >= {d0} AND event_date < {d1} AND callee_number IS NOT NULL
GROUP BY substr(callee_number, 1, 5) ORDER BY calls DESC, destination LIMIT 20""",
  polars=lambda f, p: _days(f, p).filter(pl.col("callee_number").is_not_null())
  .group_by(pl.col("callee_number").str.slice(0, 5).alias("destination"))
  .agg(pl.len().cast(pl.Int64).alias("calls"), pl.col("answer_time").count().alias("answered"),
       (pl.col("billable_s").sum().cast(pl.Float64) / 60).alias("minutes"),
       pl.col("customer_charge").sum().alias("charge"))
  .sort(["calls", "destination"], descending=[True, False]).head(20))

q("top_talkers", kind="adhoc",
  doc="The 20 calling numbers with the most billable seconds over all data (a group-by over "
      "millions of numbers).",
  sql="""SELECT caller_number, count(*) AS calls, sum(billable_s) AS billable_s
FROM {calls} WHERE caller_number IS NOT NULL
GROUP BY caller_number ORDER BY billable_s DESC, caller_number LIMIT 20""",
  polars=lambda f, p: f["calls"].filter(pl.col("caller_number").is_not_null()).group_by("caller_number")
  .agg(pl.len().cast(pl.Int64).alias("calls"), pl.col("billable_s").sum().alias("billable_s"))
  .sort(["billable_s", "caller_number"], descending=[True, False]).head(20))

q("distinct_callers_per_customer", kind="adhoc",
  doc="Distinct calling numbers per customer over all data.",
  sql="""SELECT customer, count(DISTINCT caller_number) AS callers FROM {calls}
WHERE customer IS NOT NULL GROUP BY customer""",
  polars=lambda f, p: f["calls"].filter(pl.col("customer").is_not_null()).group_by("customer")
  .agg(pl.col("caller_number").drop_nulls().n_unique().cast(pl.Int64).alias("callers")))

q("count_star", kind="adhoc", doc="count(*) of calls.",
  sql="SELECT count(*) AS calls FROM {calls}",
  polars=lambda f, p: f["calls"].select(pl.len().cast(pl.Int64).alias("calls")))

q("time_range", kind="adhoc", doc="min and max invite_time of calls.",
  sql="SELECT min(invite_time) AS first, max(invite_time) AS last FROM {calls}",
  polars=lambda f, p: f["calls"].select(pl.col("invite_time").min().alias("first"),
                                        pl.col("invite_time").max().alias("last")))
