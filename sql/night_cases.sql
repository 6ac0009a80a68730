-- The night's book: every case still open at $business_date or closed tonight, with what the
-- strategy needs: whether it has a phone number and an address (not the text of either, nor the
-- name, id or card: sql/case_details.sql reads them for the worked rows only), verification
-- (R19), promises, complaints, and the collector who worked the debtor earlier in the current
-- cycle (continuity), and what the rule packs count in the contact history (pipeline/rules):
-- the night's worklist is worked the day after $business_date, so windows are counted back
-- from that day.
with

snapshot as (
    select * from case_snapshots
    where business_date = $business_date
        -- one part of the book (pipeline/parts.py): a debtor's cases are all in one part
        -- $parts and $part cast to hash's UBIGINT: bound as integers they make DuckDB take
        -- every hash to HUGEINT, whose modulo was 2.5 of a part's 5 s at 3M cases (issue 8)
        and hash(client_id, customer_id) % cast($parts as ubigint) = cast($part as ubigint)
),

previous as (
    select client_id, case_id, status as previous_status
    from case_snapshots
    where business_date = (
        select max(business_date) from case_snapshots where business_date < $business_date
    )
),

notes as (
    select *
    from contacts
    where contacted_at < $business_date + interval 1 day
),

note_summary as (
    select
        client_id,
        case_id,
        count(*) as attempts,
        count(*) filter (
            where outcome in ('right_party', 'promise_to_pay', 'refused', 'paid_claimed', 'visit_met')
        ) as right_party_contacts,
        count(*) filter (where outcome = 'wrong_number') as wrong_numbers,
        count(*) filter (
            where complaint and contacted_at >= $business_date - interval 30 day
        ) as recent_complaints,
        max(promise_date) filter (where outcome = 'promise_to_pay') as last_promise_date,
        arg_max(outcome, contacted_at) as last_outcome,
        max(contacted_at) as last_contact_at
    from notes
    group by client_id, case_id
),

recent_phone as (
    -- the last three phone outcomes, to see a number that no longer reaches the debtor
    select client_id, case_id, list(outcome order by contacted_at desc)[1:3] as last_phone_outcomes
    from notes
    where channel = 'phone'
    group by client_id, case_id
),

last_letter as (
    select client_id, case_id, arg_max(outcome, contacted_at) as last_letter_outcome
    from notes
    where channel = 'letter'
    group by client_id, case_id
),

last_reach as (
    select client_id, case_id, max(contacted_at) as last_right_party_at
    from notes
    where outcome in ('right_party', 'promise_to_pay', 'refused', 'paid_claimed', 'visit_met')
    group by client_id, case_id
),

contact_counts as (
    -- us-regf: call attempts in the 6 days before the work day (7 with it) and the last
    -- telephone conversation; cn-2026: complaints (cooling-off) and the days since the debtor
    -- was last reached on which calls failed (3 days unreachable opens third-party contact)
    select
        n.client_id,
        n.case_id,
        count(*) filter (
            where n.channel = 'phone' and n.contacted_at >= $business_date - interval 5 day
        ) as phone_attempts_6d,
        max(cast(n.contacted_at as date)) filter (
            where n.channel = 'phone'
            and n.outcome in ('right_party', 'promise_to_pay', 'refused', 'paid_claimed')
        ) as last_conversation_on,
        max(cast(n.contacted_at as date)) filter (where n.complaint) as last_complaint_on,
        count(distinct cast(n.contacted_at as date)) filter (
            where n.channel = 'phone'
            and n.outcome in ('no_answer', 'wrong_number', 'third_party')
            and (r.last_right_party_at is null or n.contacted_at > r.last_right_party_at)
        ) as failed_call_days,
        count(*) filter (where n.outcome = 'refused') as refusals
    from notes as n
    left join last_reach as r
        on n.client_id = r.client_id and n.case_id = r.case_id
    group by n.client_id, n.case_id
),

worked_by as (
    -- who worked the debtor last: tonight's earlier allocations first, else the notes
    select client_id, case_id, arg_max(collector_id, business_date) as collector_id,
        max(business_date) as worked_on
    from allocations
    where business_date < $business_date
    group by client_id, case_id
),

noted_by as (
    select client_id, case_id, arg_max(collector_id, contacted_at) as collector_id,
        cast(max(contacted_at) as date) as worked_on
    from notes
    where collector_id is not null
    group by client_id, case_id
),

paid_since_promise as (
    select p.client_id, p.case_id, sum(p.amount) as paid_recently
    from payments as p
    where p.paid_on > $business_date - interval 7 day and p.paid_on <= $business_date
    group by p.client_id, p.case_id
),

final as (
    select
        s.client_id,
        s.case_id,
        s.customer_id,
        -- whether the case can be phoned, visited or written to (kept on the snapshot); the
        -- text itself is read for the worked rows only (sql/case_details.sql)
        s.has_phone,
        s.has_address,
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
        coalesce(n.attempts, 0) as attempts,
        coalesce(n.right_party_contacts, 0) as right_party_contacts,
        coalesce(n.wrong_numbers, 0) as wrong_numbers,
        coalesce(n.recent_complaints, 0) as recent_complaints,
        n.last_promise_date,
        n.last_outcome,
        rp.last_phone_outcomes,
        ll.last_letter_outcome,
        coalesce(ps.paid_recently, 0) as paid_recently,
        coalesce(w.collector_id, nb.collector_id) as previous_collector_id,
        coalesce(w.worked_on, nb.worked_on) as previous_worked_on,
        coalesce(cc.phone_attempts_6d, 0) as phone_attempts_6d,
        cc.last_conversation_on,
        cc.last_complaint_on,
        coalesce(cc.failed_call_days, 0) as failed_call_days,
        coalesce(cc.refusals, 0) as refusals
    from snapshot as s
    left join previous as pv
        on s.client_id = pv.client_id and s.case_id = pv.case_id
    left join note_summary as n
        on s.client_id = n.client_id and s.case_id = n.case_id
    left join recent_phone as rp
        on s.client_id = rp.client_id and s.case_id = rp.case_id
    left join last_letter as ll
        on s.client_id = ll.client_id and s.case_id = ll.case_id
    left join worked_by as w
        on s.client_id = w.client_id and s.case_id = w.case_id
    left join noted_by as nb
        on s.client_id = nb.client_id and s.case_id = nb.case_id
    left join paid_since_promise as ps
        on s.client_id = ps.client_id and s.case_id = ps.case_id
    left join contact_counts as cc
        on s.client_id = cc.client_id and s.case_id = cc.case_id
    where s.status in ('active', 'disputed', 'legal')
        or pv.previous_status is null
        or pv.previous_status <> s.status
)

-- No ORDER BY: sorting a million wide rows was the largest allocation of the night inside DuckDB
-- and ran out under a 1GB memory limit; pipeline/load.py night_book sorts the frame instead.
select * from final
