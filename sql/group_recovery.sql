-- Champion against challenger over the cycle (pipeline/evidence.py): the active book at the
-- cycle's first snapshot, each debtor in the group its seeded hash puts it in (the same test as
-- sql/strategy_groups.sql), and what was paid on those cases from $start to $business_date.
with

first_night as (
    select min(business_date) as business_date
    from case_snapshots
    where business_date >= $start and business_date <= $business_date
),

book as (
    select s.client_id, s.case_id, s.client_id || '/' || s.customer_id as debtor_key, s.balance
    from case_snapshots as s
    inner join first_night as f
        on s.business_date = f.business_date
    where s.status = 'active'
),

grouped as (
    select
        *,
        case
            when cast(('0x' || substr(md5($seed || '/' || debtor_key), 1, 8)) as bigint) % 10000
                < $share_bp then 'challenger'
            else 'champion'
        end as strategy_group
    from book
),

recovered as (
    select client_id, case_id, sum(amount) as amount
    from payments
    where paid_on >= $start and paid_on <= $business_date
    group by client_id, case_id
),

final as (
    select
        g.strategy_group,
        count(distinct g.debtor_key) as debtors,
        count(*) as cases,
        cast(sum(g.balance) as double) as owed,
        cast(coalesce(sum(r.amount), 0) as double) as recovered
    from grouped as g
    left join recovered as r
        on g.client_id = r.client_id and g.case_id = r.case_id
    group by g.strategy_group
)

select * from final
order by strategy_group
