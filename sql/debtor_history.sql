-- What the rules must know of a debtor across all of its cases, including the cases no longer
-- in tonight's book (paid, returned): the last complaint noted since $since on any of them
-- (cn-2026's cooling-off is about the person, not one account). pipeline/evidence.py.
with

recent as (
    select client_id, case_id, cast(contacted_at as date) as day
    from contacts
    where complaint
        and contacted_at >= $since
        and contacted_at < $business_date + interval 1 day
),

final as (
    select c.client_id, c.customer_id, max(r.day) as debtor_complaint_on
    from recent as r
    inner join cases as c
        on r.client_id = c.client_id and r.case_id = c.case_id
    group by c.client_id, c.customer_id
)

select * from final
