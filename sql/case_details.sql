-- The text a person is shown of the cases worked tonight (worklist rows, the letters among
-- them): name, id and card numbers (masked before they leave: pipeline/masking.py), phone,
-- district and address, from the current cases for the keys in a frame named worked_keys
-- (client_id, case_id). The night's book carries none of it: only these rows are read.
with

worked as (
    select distinct client_id, case_id from worked_keys
),

current_cases as (
    select client_id, case_id, customer_name, id_number, card_number, phone, district, address
    from cases
),

final as (
    select
        c.client_id,
        c.case_id,
        c.customer_name,
        c.id_number,
        c.card_number,
        c.phone,
        c.district,
        c.address
    from worked as w
    inner join current_cases as c
        on w.client_id = c.client_id and w.case_id = c.case_id
)

select * from final
order by client_id, case_id
