-- The history of outcomes by channel, stage and contact rhythm (pipeline/evidence.py): every day
-- a case was contacted by phone, visit or letter between $since and $until, whether a payment
-- followed within $horizon days, the case's overdue stage then, and the days since the case's
-- previous contact (any channel). One row per case and day (the channels of the day as flags),
-- so the notes are grouped once and sorted once. The cases are numbered first (k, any number
-- unique per case) and the grouping, the gaps and the payments go by that number, not by the two
-- key strings (the inner join with cases, which drops notes of no case, only comes first). A large
-- history is read for a share of the cases only ($sample_bp in 1/10,000ths, by a hash of the
-- case: every note of a sampled case). Observational: who got which channel was chosen, not random.
with

keyed as (
    select client_id, case_id, days_overdue, as_of, row_number() over () as k
    from cases
),

case_days as (
    select
        c.k,
        cast(n.contacted_at as date) as day,
        any_value(c.days_overdue - date_diff('day', cast(n.contacted_at as date), c.as_of))
            as overdue_then,
        bool_or(n.channel = 'phone') as phone,
        bool_or(n.channel = 'visit') as visit,
        bool_or(n.channel = 'letter') as letter
    from contacts as n
    inner join keyed as c
        on n.client_id = c.client_id and n.case_id = c.case_id
    where n.channel in ('phone', 'visit', 'letter')
        and n.contacted_at >= $since - interval 30 day
        and n.contacted_at < $until + interval 1 day
        and ($sample_bp >= 10000 or hash(n.client_id || '/' || n.case_id) % 10000 < $sample_bp)
    group by c.k, cast(n.contacted_at as date)
),

gaps as (
    select
        *,
        date_diff('day', lag(day) over (partition by k order by day), day) as gap
    from case_days
),

keyed_payments as (
    select c.k, p.paid_on
    from payments as p
    inner join keyed as c
        on p.client_id = c.client_id and p.case_id = c.case_id
),

events as (
    select * from gaps where day >= $since
),

paid_after as (
    select distinct e.k, e.day
    from events as e
    inner join keyed_payments as p
        on e.k = p.k
    where p.paid_on > e.day and p.paid_on <= e.day + cast($horizon as integer)
),

labelled as (
    select
        e.phone,
        e.visit,
        e.letter,
        pa.day is not null as paid,
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
        end as gap
    from events as e
    left join paid_after as pa
        on e.k = pa.k and e.day = pa.day
),

final as (
    select
        stratum,
        gap,
        count(*) filter (where phone) as phone_contacts,
        count(*) filter (where phone and paid) as phone_paid,
        count(*) filter (where visit) as visit_contacts,
        count(*) filter (where visit and paid) as visit_paid,
        count(*) filter (where letter) as letter_contacts,
        count(*) filter (where letter and paid) as letter_paid
    from labelled
    group by stratum, gap
)

select * from final
order by stratum, gap
