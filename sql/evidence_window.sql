-- How many notes the evidence window holds (pipeline/evidence.py decides from it what share of
-- the cases sql/contact_evidence.sql reads): a filtered count, no grouping.
with

final as (
    select count(*) as notes
    from contacts
    where channel in ('phone', 'visit', 'letter')
        and contacted_at >= $since - interval 30 day
        and contacted_at < $until + interval 1 day
)

select * from final
