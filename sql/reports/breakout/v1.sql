-- @title Breakout
-- @seed 001 ConnexCS: Breakout (customer/provider cost, charge, profit, ASR, ACD; pivot and group-by; schedule "Group")
-- @description Wholesale traffic per customer and provider over the period, optionally broken
--   out by destination country, destination prefix and tenant-local day. Only wholesale legs
--   count: calls rows whose customer or provider is not NULL, whose tenant-local invite_time
--   (local_time(invite_time, tenants.time_zone)) is in [from, to), and that pass the tenant,
--   customer and provider filters (exact matches against the comma-separated lists; a row
--   with a NULL customer never matches a customer filter, likewise provider).
--   Grouping: always tenant_id, customer, provider (NULL there means the call had none);
--   group_by adds any of country, prefix, day (comma-separated, case and spaces ignored,
--   unknown words ignored; NULL or empty = none). The column of a dimension that is not
--   grouped is NULL in every row.
--   Destination: callee_number. Its country calling code (cc) is the ITU-T E.164 code it
--   starts with: 1 digit when the first digit is 1 or 7; 2 digits when the first two digits
--   are one of 20 27 30 31 32 33 34 36 39 40 41 43 44 45 46 47 48 49 51 52 53 54 55 56 57 58
--   60 61 62 63 64 65 66 81 82 84 86 90 91 92 93 94 95 98; otherwise 3 digits.
--   prefix (text) = '+' || cc || the next 3 digits (the NANP area code for +1), i.e. the first
--   1 + len(cc) + 3 characters of callee_number ('+1212', '+44207', '+49309', '+33142');
--   '(unknown)' when callee_number is NULL.
--   country (text, ISO 3166 alpha-2): for cc 1, decided by the area code A (the 3 digits after
--   +1) through npa_state('+1' || A || '5550100'): 'CA' when that is a Canadian province code
--   (AB BC MB NB NL NS/PE ON QC SK YT/NT/NU); the value itself (AG, BS, JM, DO, ...) when
--   jurisdiction_reason(NULL, '+1' || A || '5550100') is 'DEST_NON_US' and it is not a
--   province; 'US' for everything else (US states, DC and territories, toll-free, premium,
--   non-geographic, unknown or invalid area codes). For other codes, the region of
--   data/countries.csv with that calling_code; where several regions share one the report
--   uses RU for 7, GB for 44, AU for 61, IT for 39, NO for 47, MA for 212, RE for 262,
--   SH for 290, FI for 358, GP for 590, CW for 599. '(unknown)' when callee_number is NULL
--   or its cc is in no row of countries.csv (e.g. +800, +882).
--   day (date) = the tenant-local date of invite_time.
--   Columns: tenant_id, customer, provider, country, prefix, day; attempts (bigint, rows);
--   answered (rows with disposition 'answered'); asr_pct = 100 * answered / attempts;
--   ner_pct = 100 * (rows with disposition answered, busy, no_answer or rejected) / attempts
--   (failed and lost_to_queue rows do not count); acd_s = sum(billable_s) of answered rows
--   / answered (NULL when none answered); avg_pdd_ms = average of pdd_ms over the rows whose
--   pdd_ms is not NULL, answered or not (NULL when none); customer_billed_min = sum over all
--   rows of billed_seconds(billable_s, customer_first_increment_s, customer_next_increment_s)
--   / 60 and provider_billed_min the same with the provider increments, where a NULL
--   increment counts as 1 (billing by the second; unanswered rows have billable_s 0 and bill
--   0; a row billed_seconds gives NULL for, next increment 0 on a call longer than the first
--   increment, adds nothing); charge = sum(customer_charge), cost = sum(provider_cost) (decimal(18,6), exact, NULL
--   when every row's value is NULL); profit = charge - cost (decimal(18,6), NULL when either
--   is NULL); margin_pct = 100 * profit / charge (NULL when charge is NULL or 0). Every
--   ratio is computed from the group's sums over the whole period (a day-grouped row from
--   that day's sums); percentages, acd_s, avg_pdd_ms and minutes are double rounded to 2
--   decimals. Only groups with at least one call appear. Rows are ordered by tenant_id,
--   customer, provider, country, prefix, day (ascending, NULLs last).
-- @param from | timestamp | date_trunc('day', now()) - INTERVAL '30 days' | Start of the period (tenant-local time, inclusive).
-- @param to | timestamp | date_trunc('day', now()) + INTERVAL '1 day' | End of the period (tenant-local time, exclusive).
-- @param tenant | text | NULL | Only these tenants (comma-separated ids); NULL for all.
-- @param customer | text | NULL | Only these customers (comma-separated); NULL for all.
-- @param provider | text | NULL | Only these providers (comma-separated); NULL for all.
-- @param group_by | text | NULL | Extra grouping: any of country, prefix, day, comma-separated; NULL for none.
WITH opt AS (
    SELECT coalesce(array_has(g, 'country'), false) AS by_country,
           coalesce(array_has(g, 'prefix'), false) AS by_prefix,
           coalesce(array_has(g, 'day'), false) AS by_day
    FROM (SELECT string_to_array(lower(replace($group_by, ' ', '')), ',') AS g)
),
c AS (
    SELECT c.tenant_id, c.customer, c.provider, c.disposition, c.billable_s, c.pdd_ms,
           c.customer_charge, c.provider_cost,
           billed_seconds(c.billable_s, coalesce(c.customer_first_increment_s, 1),
                          coalesce(c.customer_next_increment_s, 1)) AS customer_billed_s,
           billed_seconds(c.billable_s, coalesce(c.provider_first_increment_s, 1),
                          coalesce(c.provider_next_increment_s, 1)) AS provider_billed_s,
           CASE WHEN o.by_country OR o.by_prefix THEN
               CASE WHEN c.callee_number IS NULL THEN '(unknown)'
                    ELSE substr(c.callee_number, 1,
                        4 + CASE WHEN substr(c.callee_number, 2, 1) IN ('1', '7') THEN 1
                                 WHEN substr(c.callee_number, 2, 2) IN (
                                     '20', '27', '30', '31', '32', '33', '34', '36', '39', '40',
                                     '41', '43', '44', '45', '46', '47', '48', '49', '51', '52',
                                     '53', '54', '55', '56', '57', '58', '60', '61', '62', '63',
                                     '64', '65', '66', '81', '82', '84', '86', '90', '91', '92',
                                     '93', '94', '95', '98') THEN 2
                                 ELSE 3 END)
               END
           END AS pfx,
           CASE WHEN o.by_day THEN CAST(date_trunc('day', local_time(c.invite_time, t.time_zone)) AS DATE) END AS day
    FROM calls c JOIN tenants t ON t.tenant_id = c.tenant_id CROSS JOIN opt o
    WHERE c.invite_time >= CAST($from AS TIMESTAMP) AT TIME ZONE 'UTC' - INTERVAL '14 hours'
      AND c.invite_time < CAST($to AS TIMESTAMP) AT TIME ZONE 'UTC' + INTERVAL '14 hours'
      AND local_time(c.invite_time, t.time_zone) >= $from
      AND local_time(c.invite_time, t.time_zone) < $to
      AND ($tenant IS NULL OR array_has(string_to_array($tenant, ','), c.tenant_id))
      AND (c.customer IS NOT NULL OR c.provider IS NOT NULL)
      AND ($customer IS NULL OR array_has(string_to_array($customer, ','), c.customer))
      AND ($provider IS NULL OR array_has(string_to_array($provider, ','), c.provider))
),
-- First pass: sums per destination prefix (every ratio below is a ratio of these sums).
p AS (
    SELECT tenant_id, customer, provider, pfx, day,
           count(*) AS attempts,
           count(*) FILTER (WHERE disposition = 'answered') AS answered,
           count(*) FILTER (WHERE disposition IN ('answered', 'busy', 'no_answer', 'rejected')) AS effective,
           sum(billable_s) FILTER (WHERE disposition = 'answered') AS answered_s,
           sum(pdd_ms) AS pdd_sum, count(pdd_ms) AS pdd_n,
           sum(customer_billed_s) AS customer_billed_s,
           sum(provider_billed_s) AS provider_billed_s,
           sum(customer_charge) AS charge, sum(provider_cost) AS cost
    FROM c
    GROUP BY tenant_id, customer, provider, pfx, day
),
cc(code, iso2) AS (
    VALUES
        ('7','RU'), ('20','EG'), ('27','ZA'), ('30','GR'), ('31','NL'), ('32','BE'), ('33','FR'), ('34','ES'), ('36','HU'), ('39','IT'),
        ('40','RO'), ('41','CH'), ('43','AT'), ('44','GB'), ('45','DK'), ('46','SE'), ('47','NO'), ('48','PL'), ('49','DE'), ('51','PE'),
        ('52','MX'), ('53','CU'), ('54','AR'), ('55','BR'), ('56','CL'), ('57','CO'), ('58','VE'), ('60','MY'), ('61','AU'), ('62','ID'),
        ('63','PH'), ('64','NZ'), ('65','SG'), ('66','TH'), ('81','JP'), ('82','KR'), ('84','VN'), ('86','CN'), ('90','TR'), ('91','IN'),
        ('92','PK'), ('93','AF'), ('94','LK'), ('95','MM'), ('98','IR'), ('211','SS'), ('212','MA'), ('213','DZ'), ('216','TN'), ('218','LY'),
        ('220','GM'), ('221','SN'), ('222','MR'), ('223','ML'), ('224','GN'), ('225','CI'), ('226','BF'), ('227','NE'), ('228','TG'), ('229','BJ'),
        ('230','MU'), ('231','LR'), ('232','SL'), ('233','GH'), ('234','NG'), ('235','TD'), ('236','CF'), ('237','CM'), ('238','CV'), ('239','ST'),
        ('240','GQ'), ('241','GA'), ('242','CG'), ('243','CD'), ('244','AO'), ('245','GW'), ('246','IO'), ('247','AC'), ('248','SC'), ('249','SD'),
        ('250','RW'), ('251','ET'), ('252','SO'), ('253','DJ'), ('254','KE'), ('255','TZ'), ('256','UG'), ('257','BI'), ('258','MZ'), ('260','ZM'),
        ('261','MG'), ('262','RE'), ('263','ZW'), ('264','NA'), ('265','MW'), ('266','LS'), ('267','BW'), ('268','SZ'), ('269','KM'), ('290','SH'),
        ('291','ER'), ('297','AW'), ('298','FO'), ('299','GL'), ('350','GI'), ('351','PT'), ('352','LU'), ('353','IE'), ('354','IS'), ('355','AL'),
        ('356','MT'), ('357','CY'), ('358','FI'), ('359','BG'), ('370','LT'), ('371','LV'), ('372','EE'), ('373','MD'), ('374','AM'), ('375','BY'),
        ('376','AD'), ('377','MC'), ('378','SM'), ('380','UA'), ('381','RS'), ('382','ME'), ('383','XK'), ('385','HR'), ('386','SI'), ('387','BA'),
        ('389','MK'), ('420','CZ'), ('421','SK'), ('423','LI'), ('500','FK'), ('501','BZ'), ('502','GT'), ('503','SV'), ('504','HN'), ('505','NI'),
        ('506','CR'), ('507','PA'), ('508','PM'), ('509','HT'), ('590','GP'), ('591','BO'), ('592','GY'), ('593','EC'), ('594','GF'), ('595','PY'),
        ('596','MQ'), ('597','SR'), ('598','UY'), ('599','CW'), ('670','TL'), ('672','NF'), ('673','BN'), ('674','NR'), ('675','PG'), ('676','TO'),
        ('677','SB'), ('678','VU'), ('679','FJ'), ('680','PW'), ('681','WF'), ('682','CK'), ('683','NU'), ('685','WS'), ('686','KI'), ('687','NC'),
        ('688','TV'), ('689','PF'), ('690','TK'), ('691','FM'), ('692','MH'), ('850','KP'), ('852','HK'), ('853','MO'), ('855','KH'), ('856','LA'),
        ('880','BD'), ('886','TW'), ('960','MV'), ('961','LB'), ('962','JO'), ('963','SY'), ('964','IQ'), ('965','KW'), ('966','SA'), ('967','YE'),
        ('968','OM'), ('970','PS'), ('971','AE'), ('972','IL'), ('973','BH'), ('974','QA'), ('975','BT'), ('976','MN'), ('977','NP'), ('992','TJ'),
        ('993','TM'), ('994','AZ'), ('995','GE'), ('996','KG'), ('998','UZ')
),
-- The destination country of each prefix (a function of the prefix alone).
d AS (
    SELECT p.*,
           CASE WHEN p.pfx IS NULL THEN NULL
                WHEN p.pfx = '(unknown)' THEN '(unknown)'
                WHEN substr(p.pfx, 2, 1) = '1' THEN
                    CASE WHEN npa_state(substr(p.pfx, 1, 5) || '5550100')
                              IN ('AB', 'BC', 'MB', 'NB', 'NL', 'NS/PE', 'ON', 'QC', 'SK', 'YT/NT/NU') THEN 'CA'
                         WHEN jurisdiction_reason(NULL, substr(p.pfx, 1, 5) || '5550100') = 'DEST_NON_US'
                              THEN npa_state(substr(p.pfx, 1, 5) || '5550100')
                         ELSE 'US' END
                ELSE coalesce(cc.iso2, '(unknown)')
           END AS country
    FROM p LEFT JOIN cc ON cc.code = substr(p.pfx, 2, length(p.pfx) - 4)
),
g AS (
    SELECT d.tenant_id, d.customer, d.provider,
           CASE WHEN o.by_country THEN d.country END AS country,
           CASE WHEN o.by_prefix THEN d.pfx END AS prefix,
           d.day,
           sum(attempts) AS attempts, sum(answered) AS answered, sum(effective) AS effective,
           sum(answered_s) AS answered_s, sum(pdd_sum) AS pdd_sum, sum(pdd_n) AS pdd_n,
           sum(customer_billed_s) AS customer_billed_s, sum(provider_billed_s) AS provider_billed_s,
           CAST(sum(charge) AS DECIMAL(18, 6)) AS charge, CAST(sum(cost) AS DECIMAL(18, 6)) AS cost
    FROM d CROSS JOIN opt o
    GROUP BY 1, 2, 3, 4, 5, 6
)
SELECT tenant_id, customer, provider,
       CAST(country AS VARCHAR) AS country, CAST(prefix AS VARCHAR) AS prefix, day,
       CAST(attempts AS BIGINT) AS attempts,
       CAST(answered AS BIGINT) AS answered,
       round(100 * CAST(answered AS DOUBLE) / nullif(attempts, 0), 2) AS asr_pct,
       round(100 * CAST(effective AS DOUBLE) / nullif(attempts, 0), 2) AS ner_pct,
       round(CAST(answered_s AS DOUBLE) / nullif(answered, 0), 2) AS acd_s,
       round(CAST(pdd_sum AS DOUBLE) / nullif(pdd_n, 0), 2) AS avg_pdd_ms,
       round(CAST(customer_billed_s AS DOUBLE) / 60, 2) AS customer_billed_min,
       round(CAST(provider_billed_s AS DOUBLE) / 60, 2) AS provider_billed_min,
       charge,
       cost,
       CAST(charge - cost AS DECIMAL(18, 6)) AS profit,
       round(100 * CAST(charge - cost AS DOUBLE) / nullif(CAST(charge AS DOUBLE), 0), 2) AS margin_pct
FROM g
ORDER BY tenant_id ASC NULLS LAST, customer ASC NULLS LAST, provider ASC NULLS LAST,
         country ASC NULLS LAST, prefix ASC NULLS LAST, day ASC NULLS LAST
