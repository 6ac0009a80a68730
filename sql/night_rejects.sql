-- Every row of the night's files that failed validation (values already masked).
with

rejects as (
    select * from rejects where business_date = $business_date
),

final as (
    select file, "row", kind, "column", rule, value
    from rejects
)

select * from final
order by file, "row", "column", rule
