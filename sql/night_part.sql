-- One part of the night: its book (the rows of sql/night_cases.sql) and its features (the rows
-- of sql/features.sql for the night), in one query, the collection-note history read from the
-- per-case contact stats the load keeps (sql/contact_stats.sql) and from the notes of the last 30
-- days only, instead of every note ever loaded. Valid when no note loaded is later than the night
-- or was loaded after it (pipeline/load.py night_inputs checks; else it runs those two files):
-- then it gives the same rows (tests/test_contact_stats.py).
--
-- One query, not one for the book and one for the features: each part's query scans the night's
-- notes, stats and payments whole to keep its part's rows (pipeline/parts.py), and two queries
-- scanned them twice (3.5 + 2.8 s a part at 10M cases, issue 8). Each row is a snapshot case
-- with two structs whose fields are the two frames' columns in their order: `features` (every
-- case) and `book` (the rows `in_book` says are in the book); pipeline/load.py unnests them.
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

recent_counts as (
    -- the windows the rule packs count (at most 30 days back from the work day) and the
    -- features' 30 days (date_diff('day', contacted_on, night) < 30)
    select
        n.client_id,
        n.case_id,
        count(*) filter (where n.complaint) as recent_complaints,
        count(*) filter (
            where n.channel = 'phone' and n.contacted_at >= $business_date - interval 5 day
        ) as phone_attempts_6d,
        count(*) filter (
            where n.contacted_at >= cast($business_date as date) - interval 29 day
        ) as attempts_30d
    from contacts as n
    semi join snapshot as s
        on n.client_id = s.client_id and n.case_id = s.case_id
    where n.contacted_at >= $business_date - interval 30 day
        and n.contacted_at < $business_date + interval 1 day
    group by n.client_id, n.case_id
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

part_payments as (
    -- the part's payments made by the night: the book counts the last 7 days' whatever the
    -- night they were loaded, the features those known by the night (a point in time)
    select p.client_id, p.case_id, p.paid_on, p.amount, p.business_date as known_on
    from payments as p
    semi join snapshot as s
        on p.client_id = s.client_id and p.case_id = s.case_id
    where p.paid_on <= $business_date
),

paid_since_promise as (
    select client_id, case_id, sum(amount) as paid_recently
    from part_payments
    where paid_on > $business_date - interval 7 day
    group by client_id, case_id
),

payments_as_of as (
    select
        s.business_date,
        s.client_id,
        s.case_id,
        s.handover_date,
        p.paid_on,
        p.amount
    from snapshot as s
    inner join part_payments as p
        on s.client_id = p.client_id
        and s.case_id = p.case_id
        and p.known_on <= s.business_date
),

payment_history as (
    select
        business_date,
        client_id,
        case_id,
        count(*) as payments_count,
        max(paid_on) as last_paid_on,
        sum(amount) filter (where date_diff('day', paid_on, business_date) < 30) as paid_30d,
        sum(amount) filter (where date_diff('day', paid_on, business_date) < 90) as paid_90d,
        sum(amount) filter (where paid_on >= handover_date) as paid_since_handover
    from payments_as_of
    group by business_date, client_id, case_id
),

promises as (
    select
        s.business_date,
        s.client_id,
        s.case_id,
        p.promise.note_id as note_id,
        p.promise.promised_on as promised_on,
        p.promise.due_on as due_on
    from snapshot as s
    inner join (
        select client_id, case_id, unnest(promises) as promise from stats
    ) as p
        on s.client_id = p.client_id and s.case_id = p.case_id
),

promise_results as (
    -- kept: a payment between the promise and its due date, as far as night t knows
    select
        pr.business_date,
        pr.client_id,
        pr.case_id,
        pr.due_on,
        count(pa.paid_on) > 0 as kept
    from promises as pr
    left join payments_as_of as pa
        on pr.business_date = pa.business_date
        and pr.client_id = pa.client_id
        and pr.case_id = pa.case_id
        and pa.paid_on >= pr.promised_on
        and pa.paid_on <= pr.due_on
    group by pr.business_date, pr.client_id, pr.case_id, pr.note_id, pr.due_on
),

promise_history as (
    select
        business_date,
        client_id,
        case_id,
        count(*) as promises_made,
        count(*) filter (where kept) as promises_kept,
        count(*) filter (where not kept and due_on < business_date) as promises_broken,
        count(*) filter (where not kept and due_on >= business_date) as promises_open
    from promise_results
    group by business_date, client_id, case_id
),

debtors as (
    -- all open cases of one debtor within one client, the same night
    select
        client_id,
        customer_id,
        count(*) as debtor_open_cases,
        sum(balance) as debtor_total_balance
    from snapshot
    where status = 'active'
    group by client_id, customer_id
),

joined as (
    select
        -- s.has_phone and s.has_address: whether the case can be phoned, visited or written to,
        -- kept on the snapshot; the text itself is read for the worked rows only
        -- (sql/case_details.sql)
        s.*,
        pv.previous_status,
        -- the note counts, 0 for a case without notes, as both frames give them
        coalesce(st.attempts, 0) as attempts,
        coalesce(st.right_party_contacts, 0) as right_party_contacts,
        coalesce(st.wrong_numbers, 0) as wrong_numbers,
        coalesce(st.refusals, 0) as refusals,
        coalesce(st.complaints, 0) as complaints,
        st.last_promise_date,
        st.last_outcome,
        st.last_phone_outcomes,
        st.last_letter_outcome,
        st.noted_collector_id,
        st.noted_at,
        st.last_conversation_on,
        st.last_complaint_on,
        st.failed_days,
        st.last_right_party_at,
        st.last_contact_at,
        rc.recent_complaints,
        rc.phone_attempts_6d,
        rc.attempts_30d,
        w.collector_id as worked_collector_id,
        w.worked_on,
        ps.paid_recently,
        ph.payments_count,
        ph.last_paid_on,
        ph.paid_30d,
        ph.paid_90d,
        ph.paid_since_handover,
        pm.promises_made,
        pm.promises_kept,
        pm.promises_broken,
        pm.promises_open,
        d.debtor_open_cases,
        d.debtor_total_balance
    from snapshot as s
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
    left join payment_history as ph
        on s.client_id = ph.client_id and s.case_id = ph.case_id
    left join promise_history as pm
        on s.client_id = pm.client_id and s.case_id = pm.case_id
    left join debtors as d
        on s.client_id = d.client_id and s.customer_id = d.customer_id
)

-- No ORDER BY: sorting a million wide rows was the largest allocation of the night inside DuckDB
-- and ran out under a 1GB memory limit; pipeline/load.py night_inputs sorts the frame instead.
select
    client_id,
    case_id,
    status in ('active', 'disputed', 'legal')
    or previous_status is null
    or previous_status <> status as in_book,
    -- the book: sql/night_cases.sql's columns
    struct_pack(
        client_id := client_id,
        case_id := case_id,
        customer_id := customer_id,
        has_phone := has_phone,
        has_address := has_address,
        city := city,
        product := product,
        principal := principal,
        balance := balance,
        days_overdue := days_overdue,
        handover_date := handover_date,
        return_date := return_date,
        status := status,
        do_not_contact := do_not_contact,
        previous_status := previous_status,
        attempts := attempts,
        right_party_contacts := right_party_contacts,
        wrong_numbers := wrong_numbers,
        recent_complaints := coalesce(recent_complaints, 0),
        last_promise_date := last_promise_date,
        last_outcome := last_outcome,
        last_phone_outcomes := last_phone_outcomes,
        last_letter_outcome := last_letter_outcome,
        paid_recently := coalesce(paid_recently, 0),
        previous_collector_id := coalesce(worked_collector_id, noted_collector_id),
        previous_worked_on := coalesce(worked_on, cast(noted_at as date)),
        phone_attempts_6d := coalesce(phone_attempts_6d, 0),
        last_conversation_on := last_conversation_on,
        last_complaint_on := last_complaint_on,
        failed_call_days := coalesce(len(failed_days), 0),
        refusals := refusals
    ) as book,
    -- the features: sql/features.sql's columns (models/features.py FEATURES and the keys)
    struct_pack(
        business_date := business_date,
        client_id := client_id,
        case_id := case_id,
        customer_id := customer_id,
        status := status,
        product := product,
        balance := cast(balance as double),
        principal := cast(principal as double),
        days_overdue := days_overdue,
        -- the overdue stage as banks name it: M0 current, M1 1-30 days ... M6 151-180, M7+
        overdue_stage := case
            when days_overdue <= 0 then 0
            else least(cast(floor((days_overdue - 1) / 30) as integer) + 1, 7)
        end,
        -- the age of the case in its hand-over cycle, and the time left before it is returned
        days_since_handover := date_diff('day', handover_date, business_date),
        days_to_return := date_diff('day', business_date, return_date),
        payments_count := coalesce(payments_count, 0),
        days_since_last_payment := date_diff('day', last_paid_on, business_date),
        paid_30d := cast(coalesce(paid_30d, 0) as double),
        paid_90d := cast(coalesce(paid_90d, 0) as double),
        share_repaid := cast(coalesce(paid_since_handover, 0) as double)
        / cast(greatest(coalesce(paid_since_handover, 0) + balance, 0.01) as double),
        attempts := attempts,
        attempts_30d := coalesce(attempts_30d, 0),
        right_party_contacts := right_party_contacts,
        right_party_rate := cast(right_party_contacts as double)
        / cast(greatest(attempts, 1) as double),
        days_since_right_party := date_diff(
            'day', cast(last_right_party_at as date), business_date
        ),
        days_since_contact := date_diff('day', cast(last_contact_at as date), business_date),
        refusals := refusals,
        wrong_numbers := wrong_numbers,
        complaints := complaints,
        promises_made := coalesce(promises_made, 0),
        promises_kept := coalesce(promises_kept, 0),
        promises_broken := coalesce(promises_broken, 0),
        promises_open := coalesce(promises_open, 0),
        debtor_open_cases := coalesce(debtor_open_cases, 0),
        debtor_total_balance := cast(coalesce(debtor_total_balance, 0) as double)
    ) as features
from joined
