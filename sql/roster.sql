-- The roster in force (the latest collectors file replaced the previous one).
with

collectors as (
    select * from collectors
),

final as (
    select collector_id, name, team, channel, cities, daily_capacity, active
    from collectors
)

select * from final
order by collector_id
