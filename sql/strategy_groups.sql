-- Each debtor's short reference (no id number in it) and strategy group, from tonight's debtor
-- keys (client_id/customer_id, a frame named debtor_keys): md5 is the same on every machine and
-- every version, so a debtor keeps its group from night to night for a given seed and share.
with

keys as (
    select distinct debtor_key from debtor_keys
),

final as (
    select
        debtor_key,
        'D' || upper(substr(md5('debtor/' || debtor_key), 1, 10)) as debtor_ref,
        case
            when cast(('0x' || substr(md5($seed || '/' || debtor_key), 1, 8)) as bigint) % 10000
                < $share_bp then 'challenger'
            else 'champion'
        end as strategy_group
    from keys
)

select * from final
