-- What the strategy counts in each case's recent contact history (pipeline/evidence.py):
-- cn-2026's "unreachable" (failed call attempts, and the days with one, from $unreachable_since
-- to $business_date, and the right-party contacts in those days) and the last day the case was
-- worked (the contact rhythm). Only notes since $since are read, so the cost follows the window.
with

recent as (
    select client_id, case_id, channel, outcome, cast(contacted_at as date) as day
    from contacts
    where contacted_at >= $since
        and contacted_at < $business_date + interval 1 day
),

final as (
    select
        client_id,
        case_id,
        count(*) filter (
            where channel = 'phone'
            and outcome in ('no_answer', 'wrong_number', 'third_party')
            and day >= $unreachable_since
        ) as failed_attempts_recent,
        count(distinct day) filter (
            where channel = 'phone'
            and outcome in ('no_answer', 'wrong_number', 'third_party')
            and day >= $unreachable_since
        ) as failed_days_recent,
        count(*) filter (
            where outcome in ('right_party', 'promise_to_pay', 'refused', 'paid_claimed', 'visit_met')
            and day >= $unreachable_since
        ) as reached_recent,
        max(day) as last_contact_on
    from recent
    group by client_id, case_id
)

select * from final
