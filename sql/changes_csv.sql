-- changes.csv of a night, from the changes review_night stored part by part (pipeline/publish.py
-- writes it in batches). The order is the file's (changes.sort_changes): by kind in the order of
-- CHANGE_KINDS, then by client, debtor and case as published, i.e. with a formula-looking value
-- prefixed with ' (CSV injection, publish.escape_formulas).
select client_id, customer_id, case_id, change, before, after, reason
from changes
where business_date = $business_date
order by
    coalesce(list_position($kinds, change), len($kinds) + 1),
    case when regexp_matches(client_id, '^[=+\-@\t\r]') then '''' || client_id else client_id end nulls last,
    case when regexp_matches(customer_id, '^[=+\-@\t\r]') then '''' || customer_id else customer_id end nulls last,
    case when regexp_matches(case_id, '^[=+\-@\t\r]') then '''' || case_id else case_id end nulls last
