-- What the rules must know of a debtor across all of its cases, including the cases no longer
-- in tonight's book (paid, returned), because it is about the person, not one account: the last
-- complaint noted since $since on any of them (cn-2026's cooling-off) and a do-not-contact flag
-- on any of them (the case's latest row). pipeline/evidence.py.
with

complaints as (
    select c.client_id, c.customer_id, max(cast(n.contacted_at as date)) as debtor_complaint_on
    from contacts as n
    inner join cases as c
        on n.client_id = c.client_id and n.case_id = c.case_id
    where n.complaint
        and n.contacted_at >= $since
        and n.contacted_at < $business_date + interval 1 day
    group by c.client_id, c.customer_id
),

no_contact as (
    select distinct client_id, customer_id, true as debtor_do_not_contact
    from cases
    where do_not_contact
),

final as (
    select
        coalesce(k.client_id, d.client_id) as client_id,
        coalesce(k.customer_id, d.customer_id) as customer_id,
        k.debtor_complaint_on,
        coalesce(d.debtor_do_not_contact, false) as debtor_do_not_contact
    from complaints as k
    full outer join no_contact as d
        on k.client_id = d.client_id and k.customer_id = d.customer_id
)

select * from final
