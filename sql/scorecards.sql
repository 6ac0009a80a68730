-- R25: each collector's results over the current cycle ($cycle_start to $business_date): cases
-- allocated and worked, right-party contacts, promises made, due and kept, amount recovered and
-- complaints. Only what the warehouse held by the night counts (business_date <= the night), so
-- a night's scorecards read the same when rebuilt later. Tonight's allocation comes from
-- `night_allocation` (client_id, case_id, collector_id), registered by the caller: the night's
-- worklists, or the allocations table when the report is rebuilt.
-- The notes are read three times, each straight from contacts with its own window, not through
-- one CTE: DuckDB materialises a CTE that is read twice, and the notes of the cycle and of the 30
-- days before it (35M rows at 10M cases) spilled 2 GB that way: 20 s of the night against 7.5 s.
with

cycle_notes as (
    -- the cycle's notes by a collector (by_notes); promises and attributed read the same rows
    -- and, for attributed, the 30 days before the cycle too; older notes count nowhere, and are
    -- most of the history
    select client_id, case_id, collector_id, outcome, complaint
    from contacts
    where business_date <= $business_date
        and contacted_at < $business_date + interval 1 day
        and contacted_at >= $cycle_start
        and collector_id is not null
),

received as (
    -- payments of the cycle: a promise of the cycle is kept by a payment on or after the day
    -- it was made, and only payments of the cycle are attributed
    select *
    from payments
    where business_date <= $business_date
        and paid_on <= $business_date
        and paid_on >= $cycle_start
),

allocated as (
    select client_id, case_id, collector_id
    from allocations
    where business_date >= $cycle_start
        and business_date < $business_date
    union all
    select client_id, case_id, collector_id
    from night_allocation
),

promises as (
    -- a promise counts as kept when the case received at least the promised amount (any
    -- payment when no amount was noted) from the day it was made to the day it was due
    select
        n.client_id,
        n.note_id,
        n.collector_id,
        n.promise_date,
        n.promise_amount,
        coalesce(sum(r.amount), 0) as paid
    from contacts as n
    left join received as r
        on n.client_id = r.client_id
        and n.case_id = r.case_id
        and r.paid_on >= cast(n.contacted_at as date)
        and r.paid_on <= n.promise_date
    where n.outcome = 'promise_to_pay'
        -- the rows of cycle_notes
        and n.business_date <= $business_date
        and n.contacted_at < $business_date + interval 1 day
        and n.contacted_at >= $cycle_start
        and n.collector_id is not null
    group by n.client_id, n.note_id, n.collector_id, n.promise_date, n.promise_amount
),

attributed as (
    -- a payment of the cycle counts for the collector who last noted the case in the 30 days
    -- up to the day it was paid; of two notes at the same moment, the greater collector_id
    -- (arg_max on the time alone would pick either, as its threads happen to meet them). One
    -- aggregate per payment, not a row_number() window: the window sorted the 5M note-payment
    -- pairs of a 10M-case night (4.2 CPU s) where the aggregate keeps one row each (2.5)
    select
        r.client_id,
        r.payment_id,
        any_value(r.amount) as amount,
        arg_max(n.collector_id, struct_pack(at := n.contacted_at, id := n.collector_id))
            as collector_id
    from received as r
    inner join contacts as n
        on r.client_id = n.client_id
        and r.case_id = n.case_id
        and n.contacted_at < r.paid_on + interval 1 day
        and n.contacted_at >= r.paid_on - interval 30 day
    where r.paid_on >= $cycle_start
        and n.collector_id is not null
        and n.business_date <= $business_date
        and n.contacted_at < $business_date + interval 1 day
        and n.contacted_at >= $cycle_start - interval 30 day
    group by r.client_id, r.payment_id
),

by_notes as (
    select
        collector_id,
        -- the pair, not the two joined in one string: 14.6M distinct pairs at 10M cases, and the
        -- strings were built and hashed for each of the cycle's 23M notes
        count(distinct (client_id, case_id)) as cases_worked,
        count(*) as attempts,
        count(*) filter (
            where outcome in ('right_party', 'promise_to_pay', 'refused', 'paid_claimed', 'visit_met')
        ) as right_party_contacts,
        count(*) filter (where outcome = 'promise_to_pay') as promises,
        count(*) filter (where complaint) as complaints
    from cycle_notes
    group by collector_id
),

by_promises as (
    select
        collector_id,
        count(*) filter (where promise_date <= $business_date) as promises_due,
        count(*) filter (
            where promise_date <= $business_date
                and paid > 0
                and paid >= coalesce(promise_amount, 0)
        ) as promises_kept
    from promises
    group by collector_id
),

by_allocation as (
    select collector_id, count(distinct (client_id, case_id)) as cases_allocated
    from allocated
    group by collector_id
),

by_payments as (
    select collector_id, sum(amount) as amount_recovered
    from attributed
    group by collector_id
),

collectors as (
    select collector_id from by_notes
    union
    select collector_id from by_allocation
    union
    select collector_id from by_payments
),

final as (
    select
        c.collector_id,
        coalesce(a.cases_allocated, 0) as cases_allocated,
        coalesce(n.cases_worked, 0) as cases_worked,
        coalesce(n.attempts, 0) as attempts,
        coalesce(n.right_party_contacts, 0) as right_party_contacts,
        coalesce(n.promises, 0) as promises,
        coalesce(p.promises_due, 0) as promises_due,
        coalesce(p.promises_kept, 0) as promises_kept,
        coalesce(m.amount_recovered, 0) as amount_recovered,
        coalesce(n.complaints, 0) as complaints
    from collectors as c
    left join by_allocation as a on c.collector_id = a.collector_id
    left join by_notes as n on c.collector_id = n.collector_id
    left join by_promises as p on c.collector_id = p.collector_id
    left join by_payments as m on c.collector_id = m.collector_id
)

select * from final
order by collector_id
