-- The history of outcomes by channel, stage and contact rhythm (pipeline/evidence.py): every day
-- a case was contacted by phone, visit or letter between $since and $until, whether a payment
-- followed within $horizon days, the case's overdue stage then, and the days since the case's
-- previous contact (any channel). Observational: who got which channel was chosen, not random.
with

contacted as (
    select distinct client_id, case_id, channel, cast(contacted_at as date) as day
    from contacts
    where channel in ('phone', 'visit', 'letter')
        and contacted_at >= $since - interval 30 day
        and contacted_at < $until + interval 1 day
),

case_days as (
    select
        client_id,
        case_id,
        day,
        date_diff('day', lag(day) over (partition by client_id, case_id order by day), day) as gap
    from (select distinct client_id, case_id, day from contacted) as d
),

events as (
    select
        t.client_id,
        t.case_id,
        t.channel,
        t.day,
        g.gap,
        c.days_overdue - date_diff('day', t.day, c.as_of) as overdue_then
    from contacted as t
    inner join case_days as g
        on t.client_id = g.client_id and t.case_id = g.case_id and t.day = g.day
    inner join cases as c
        on t.client_id = c.client_id and t.case_id = c.case_id
    where t.day >= $since
),

paid_after as (
    select distinct e.client_id, e.case_id, e.day
    from events as e
    inner join payments as p
        on e.client_id = p.client_id and e.case_id = p.case_id
    where p.paid_on > e.day and p.paid_on <= e.day + cast($horizon as integer)
),

final as (
    select
        e.channel,
        case
            when e.overdue_then <= 30 then 'M0-M1'
            when e.overdue_then <= 90 then 'M2-M3'
            when e.overdue_then <= 180 then 'M4-M6'
            else 'M7+'
        end as stratum,
        case
            when e.gap is null then 'first'
            when e.gap <= 3 then cast(e.gap as varchar)
            when e.gap <= 7 then '4-7'
            else '8+'
        end as gap,
        count(*) as contacts,
        count(pa.day) as paid
    from events as e
    left join paid_after as pa
        on e.client_id = pa.client_id and e.case_id = pa.case_id and e.day = pa.day
    group by all
)

select * from final
order by channel, stratum, gap
