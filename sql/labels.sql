-- What the model learns to predict: for every case active on a snapshot night t between
-- $date_from and $date_to, did the debtor pay within $horizon_days days after t?
-- repaid = 1 when one payment of at least min($min_payment, balance at t) was made on a day in
-- (t, t + $horizon_days]. Only payments the warehouse had received by night $known_by count,
-- so training "as of" a past date gives the same labels however many nights were loaded since.
-- The caller keeps t + $horizon_days <= $known_by, so every label's window is complete.
with

snapshots as (
    select business_date, client_id, case_id, balance
    from case_snapshots
    where business_date between $date_from and $date_to
        and status = 'active'
),

payments as (
    select client_id, case_id, paid_on, amount
    from payments
    where business_date <= $known_by
),

window_payments as (
    select
        s.business_date,
        s.client_id,
        s.case_id,
        max(p.amount) as largest_payment
    from snapshots as s
    inner join payments as p
        on s.client_id = p.client_id
        and s.case_id = p.case_id
        and date_diff('day', s.business_date, p.paid_on) between 1 and $horizon_days
    group by s.business_date, s.client_id, s.case_id
),

final as (
    select
        s.business_date,
        s.client_id,
        s.case_id,
        case
            when coalesce(w.largest_payment, 0) >= least(cast($min_payment as double), s.balance)
                then 1
            else 0
        end as repaid
    from snapshots as s
    left join window_payments as w
        on s.business_date = w.business_date
        and s.client_id = w.client_id
        and s.case_id = w.case_id
)

select * from final
