-- Rollup conference_legs: an index of conference legs rather than an aggregate. One row per
-- calls row with a conference_id (a leg: every attempt to join, answered or not), with the
-- columns the conference reports read, sorted by tenant then invite time in each event_date
-- partition. Conference legs are a few per cent of calls, so the conference reports
-- (top_conferences, conference_summary, pstn_conference_minutes) read these rows instead of
-- filtering every call of the period on conference_id.
SELECT event_date,
       tenant_id,
       team_id,
       conference_id,
       conference_organizer,
       call_id,
       invite_time,
       answer_time,
       end_time,
       disposition,
       is_pstn,
       billable_s
FROM calls
WHERE conference_id IS NOT NULL
