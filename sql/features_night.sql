-- sql/features.sql for one night, $business_date, its collection-note history read from the
-- per-case contact stats the load keeps (sql/contact_stats.sql) and the notes of the last 30 days,
-- instead of every note ever loaded. Valid when no note loaded is later than the night or was
-- loaded after it (models/features.py night_features checks; else it runs features.sql): then
-- the two give the same rows (tests/test_contact_stats.py). Training keeps features.sql.
with

snapshots as (
    select * from case_snapshots
    where business_date = $business_date
        -- one part of the book (pipeline/parts.py): a debtor's cases are all in one part
        -- $parts and $part cast to hash's UBIGINT: bound as integers they make DuckDB take
        -- every hash to HUGEINT, whose modulo was 2.5 of a part's 5 s at 3M cases (issue 8)
        and hash(client_id, customer_id) % cast($parts as ubigint) = cast($part as ubigint)
),

payments as (
    select client_id, case_id, paid_on, amount, business_date as known_on
    from payments
),

-- The notes and stats below keep the rows of the part's cases (a semi join on snapshots) before
-- they are grouped or joined: grouped whole, the 30 days' notes and every case's stats were most
-- of each part's query, done again for every part (a 10M-case night in 10 parts, issue 8).
stats as (
    select st.*
    from case_contact_stats as st
    semi join snapshots as s
        on st.client_id = s.client_id and st.case_id = s.case_id
),

payments_as_of as (
    select
        s.business_date,
        s.client_id,
        s.case_id,
        s.handover_date,
        p.paid_on,
        p.amount
    from snapshots as s
    inner join payments as p
        on s.client_id = p.client_id
        and s.case_id = p.case_id
        and p.paid_on <= s.business_date
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

recent_notes as (
    -- notes of the last 30 days (date_diff('day', contacted_on, night) < 30)
    select n.client_id, n.case_id, count(*) as attempts_30d
    from contacts as n
    semi join snapshots as s
        on n.client_id = s.client_id and n.case_id = s.case_id
    where n.contacted_at >= cast($business_date as date) - interval 29 day
        and n.contacted_at < cast($business_date as date) + interval 1 day
    group by n.client_id, n.case_id
),

note_history as (
    select
        st.client_id,
        st.case_id,
        st.attempts,
        coalesce(rn.attempts_30d, 0) as attempts_30d,
        st.right_party_contacts,
        cast(st.last_right_party_at as date) as last_right_party_on,
        st.refusals,
        st.wrong_numbers,
        st.complaints,
        cast(st.last_contact_at as date) as last_contact_on
    from stats as st
    left join recent_notes as rn
        on st.client_id = rn.client_id and st.case_id = rn.case_id
),

promises as (
    select
        s.business_date,
        s.client_id,
        s.case_id,
        p.promise.note_id as note_id,
        p.promise.promised_on as promised_on,
        p.promise.due_on as due_on
    from snapshots as s
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
        business_date,
        client_id,
        customer_id,
        count(*) as debtor_open_cases,
        sum(balance) as debtor_total_balance
    from snapshots
    where status = 'active'
    group by business_date, client_id, customer_id
),

final as (
    select
        s.business_date,
        s.client_id,
        s.case_id,
        s.customer_id,
        s.status,
        s.product,
        cast(s.balance as double) as balance,
        cast(s.principal as double) as principal,
        s.days_overdue,
        -- the overdue stage as banks name it: M0 current, M1 1-30 days ... M6 151-180, M7+
        case
            when s.days_overdue <= 0 then 0
            else least(cast(floor((s.days_overdue - 1) / 30) as integer) + 1, 7)
        end as overdue_stage,
        -- the age of the case in its hand-over cycle, and the time left before it is returned
        date_diff('day', s.handover_date, s.business_date) as days_since_handover,
        date_diff('day', s.business_date, s.return_date) as days_to_return,
        coalesce(ph.payments_count, 0) as payments_count,
        date_diff('day', ph.last_paid_on, s.business_date) as days_since_last_payment,
        cast(coalesce(ph.paid_30d, 0) as double) as paid_30d,
        cast(coalesce(ph.paid_90d, 0) as double) as paid_90d,
        cast(coalesce(ph.paid_since_handover, 0) as double)
        / cast(greatest(coalesce(ph.paid_since_handover, 0) + s.balance, 0.01) as double)
            as share_repaid,
        coalesce(nh.attempts, 0) as attempts,
        coalesce(nh.attempts_30d, 0) as attempts_30d,
        coalesce(nh.right_party_contacts, 0) as right_party_contacts,
        cast(coalesce(nh.right_party_contacts, 0) as double)
        / cast(greatest(coalesce(nh.attempts, 0), 1) as double) as right_party_rate,
        date_diff('day', nh.last_right_party_on, s.business_date) as days_since_right_party,
        date_diff('day', nh.last_contact_on, s.business_date) as days_since_contact,
        coalesce(nh.refusals, 0) as refusals,
        coalesce(nh.wrong_numbers, 0) as wrong_numbers,
        coalesce(nh.complaints, 0) as complaints,
        coalesce(pm.promises_made, 0) as promises_made,
        coalesce(pm.promises_kept, 0) as promises_kept,
        coalesce(pm.promises_broken, 0) as promises_broken,
        coalesce(pm.promises_open, 0) as promises_open,
        coalesce(d.debtor_open_cases, 0) as debtor_open_cases,
        cast(coalesce(d.debtor_total_balance, 0) as double) as debtor_total_balance
    from snapshots as s
    left join payment_history as ph
        on s.business_date = ph.business_date
        and s.client_id = ph.client_id
        and s.case_id = ph.case_id
    left join note_history as nh
        on s.client_id = nh.client_id
        and s.case_id = nh.case_id
    left join promise_history as pm
        on s.business_date = pm.business_date
        and s.client_id = pm.client_id
        and s.case_id = pm.case_id
    left join debtors as d
        on s.business_date = d.business_date
        and s.client_id = d.client_id
        and s.customer_id = d.customer_id
)

select * from final
