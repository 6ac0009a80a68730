-- Payments that close a case mark it paid in the current state (CONTRACT.md: load).
update cases
set status = 'paid'
where status = 'active'
    and exists (
        select 1
        from case_snapshots as s
        where s.business_date = $business_date
            and s.status = 'paid'
            and s.client_id = cases.client_id
            and s.case_id = cases.case_id
    )
