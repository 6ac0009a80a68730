-- The state of every known case at the end of business night $business_date.
-- balance: the client's amount_owed as of its file, less payments received after that file.
-- A case whose balance is paid off is 'paid'; an active case past its return date is 'returned'.
-- has_phone, has_address: whether the case has a phone number and an address (not the text),
-- which the night's book reads (sql/night_part.sql) without reading the cases again.
-- The cases table is read twice, by name: through a CTE read twice, DuckDB materialised every
-- column of every case (names and addresses too) first: the 3M night's snapshot took 3.5 s that
-- way, 1.8 s this way (issue 8).
with

payments_since_file as (
    select
        p.client_id,
        p.case_id,
        sum(p.amount) as paid_since
    from payments as p
    inner join cases as c
        on p.client_id = c.client_id and p.case_id = c.case_id
    where p.paid_on > c.as_of and p.paid_on <= $business_date
    group by p.client_id, p.case_id
),

aged as (
    select
        c.client_id,
        c.case_id,
        c.customer_id,
        c.product,
        c.city,
        c.principal,
        greatest(c.amount_owed - coalesce(p.paid_since, 0), 0) as balance,
        case
            when c.status = 'active' then c.days_overdue + date_diff('day', c.as_of, $business_date)
            else c.days_overdue
        end as days_overdue,
        c.handover_date,
        c.return_date,
        c.status,
        c.do_not_contact,
        c.phone is not null as has_phone,
        c.address is not null as has_address
    from cases as c
    left join payments_since_file as p
        on c.client_id = p.client_id and c.case_id = p.case_id
    where c.handover_date <= $business_date
),

final as (
    select
        cast($business_date as date) as business_date,
        client_id,
        case_id,
        customer_id,
        product,
        city,
        principal,
        balance,
        days_overdue,
        handover_date,
        return_date,
        case
            when status = 'active' and balance <= 0 then 'paid'
            when status = 'active' and return_date < $business_date then 'returned'
            else status
        end as status,
        do_not_contact,
        has_phone,
        has_address
    from aged
)

select * from final
