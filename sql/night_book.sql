-- The night's book as sql/night_cases.sql gives it, its contact history read from the per-case
-- stats that the load keeps up to date (sql/contact_stats.sql) and from the notes of the last 30
-- days only, instead of every note ever loaded. Valid when no note loaded is later than the
-- night (pipeline/warehouse.py night_book checks; else it runs night_cases.sql); the two give
-- the same rows (tests/test_contact_stats.py).
with

snapshot as (
    select * from case_snapshots
    where business_date = $business_date
        -- one part of the book (pipeline/parts.py): a debtor's cases are all in one part
        -- $parts and $part cast to hash's UBIGINT: bound as integers they make DuckDB take
        -- every hash to HUGEINT, whose modulo was 2.5 of a part's 5 s at 3M cases (issue 8)
        and hash(client_id, customer_id) % cast($parts as ubigint) = cast($part as ubigint)
),

-- Each source below keeps the rows of the part's cases (a semi join on snapshot) before it is
-- grouped or joined: grouped whole, the 30 days' notes and the stats of every case were most of
-- each part's query, done again for every part (a 10M-case night in 10 parts, issue 8).
previous as (
    select p.client_id, p.case_id, p.status as previous_status
    from case_snapshots as p
    semi join snapshot as s
        on p.client_id = s.client_id and p.case_id = s.case_id
    where p.business_date = (
        select max(business_date) from case_snapshots where business_date < $business_date
    )
),

stats as (
    select st.*
    from case_contact_stats as st
    semi join snapshot as s
        on st.client_id = s.client_id and st.case_id = s.case_id
),

recent_notes as (
    -- the windows the rule packs count: at most 30 days back from the work day
    select n.client_id, n.case_id, n.channel, n.contacted_at, n.complaint
    from contacts as n
    semi join snapshot as s
        on n.client_id = s.client_id and n.case_id = s.case_id
    where n.contacted_at >= $business_date - interval 30 day
        and n.contacted_at < $business_date + interval 1 day
),

recent_counts as (
    select
        client_id,
        case_id,
        count(*) filter (where complaint) as recent_complaints,
        count(*) filter (
            where channel = 'phone' and contacted_at >= $business_date - interval 5 day
        ) as phone_attempts_6d
    from recent_notes
    -- only the notes either count sees: a case without any gets 0 from the coalesce below
    where complaint or (channel = 'phone' and contacted_at >= $business_date - interval 5 day)
    group by client_id, case_id
),

worked_by as (
    -- who worked the debtor last: tonight's earlier allocations first, else the notes
    select a.client_id, a.case_id, arg_max(a.collector_id, a.business_date) as collector_id,
        max(a.business_date) as worked_on
    from allocations as a
    semi join snapshot as s
        on a.client_id = s.client_id and a.case_id = s.case_id
    where a.business_date < $business_date
    group by a.client_id, a.case_id
),

paid_since_promise as (
    select p.client_id, p.case_id, sum(p.amount) as paid_recently
    from payments as p
    semi join snapshot as s
        on p.client_id = s.client_id and p.case_id = s.case_id
    where p.paid_on > $business_date - interval 7 day and p.paid_on <= $business_date
    group by p.client_id, p.case_id
),

final as (
    select
        s.client_id,
        s.case_id,
        s.customer_id,
        -- whether the case can be phoned, visited or written to; the text itself is read for
        -- the worked rows only (sql/case_details.sql)
        c.phone is not null as has_phone,
        c.address is not null as has_address,
        s.city,
        s.product,
        s.principal,
        s.balance,
        s.days_overdue,
        s.handover_date,
        s.return_date,
        s.status,
        s.do_not_contact,
        pv.previous_status,
        coalesce(st.attempts, 0) as attempts,
        coalesce(st.right_party_contacts, 0) as right_party_contacts,
        coalesce(st.wrong_numbers, 0) as wrong_numbers,
        coalesce(rc.recent_complaints, 0) as recent_complaints,
        st.last_promise_date,
        st.last_outcome,
        st.last_phone_outcomes,
        st.last_letter_outcome,
        coalesce(ps.paid_recently, 0) as paid_recently,
        coalesce(w.collector_id, st.noted_collector_id) as previous_collector_id,
        coalesce(w.worked_on, cast(st.noted_at as date)) as previous_worked_on,
        coalesce(rc.phone_attempts_6d, 0) as phone_attempts_6d,
        st.last_conversation_on,
        st.last_complaint_on,
        coalesce(len(st.failed_days), 0) as failed_call_days,
        coalesce(st.refusals, 0) as refusals
    from snapshot as s
    inner join cases as c
        on s.client_id = c.client_id and s.case_id = c.case_id
    left join previous as pv
        on s.client_id = pv.client_id and s.case_id = pv.case_id
    left join stats as st
        on s.client_id = st.client_id and s.case_id = st.case_id
    left join recent_counts as rc
        on s.client_id = rc.client_id and s.case_id = rc.case_id
    left join worked_by as w
        on s.client_id = w.client_id and s.case_id = w.case_id
    left join paid_since_promise as ps
        on s.client_id = ps.client_id and s.case_id = ps.case_id
    where s.status in ('active', 'disputed', 'legal')
        or pv.previous_status is null
        or pv.previous_status <> s.status
)

-- No ORDER BY: sorting a million wide rows was the largest allocation of the night inside DuckDB
-- and ran out under a 1GB memory limit; pipeline/load.py night_book sorts the frame instead.
select * from final
