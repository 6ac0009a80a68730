-- Per case, what all its collection notes loaded so far say (sql/night_part.sql reads it, so the
-- night's book does not rescan every note ever loaded): tonight's new notes (the view
-- night_contacts) folded into the stats kept so far, for the cases they name. The caller
-- replaces those cases' rows with the result. Every column is one of sql/night_cases.sql's
-- whole-history aggregates, kept so that folding notes in night after night gives what
-- aggregating all of them at once gives (tests/test_contact_stats.py).
-- Each step below is read by the next one only: DuckDB materialises a CTE that is read twice,
-- and that is what made the 10M night's fold spill 7.6 GB (99 s against 75 s, issue 8).
with

night_notes as (
    select
        client_id,
        case_id,
        note_id,
        collector_id,
        channel,
        contacted_at,
        outcome,
        promise_date,
        complaint,
        business_date,
        -- R4: the debtor in person was reached
        outcome in ('right_party', 'promise_to_pay', 'refused', 'paid_claimed', 'visit_met')
            as reached
    from night_contacts
),

tonight as (
    select
        client_id,
        case_id,
        count(*) as attempts,
        count(*) filter (where reached) as right_party_contacts,
        count(*) filter (where outcome = 'wrong_number') as wrong_numbers,
        count(*) filter (where outcome = 'refused') as refusals,
        count(*) filter (where complaint) as complaints,
        max(contacted_at) as last_contact_at,
        arg_max(outcome, contacted_at) as last_outcome,
        max(promise_date) filter (where outcome = 'promise_to_pay') as last_promise_date,
        max(contacted_at) filter (where reached) as last_right_party_at,
        max(contacted_at) filter (where channel = 'letter') as last_letter_at,
        arg_max(outcome, contacted_at) filter (where channel = 'letter') as last_letter_outcome,
        max(cast(contacted_at as date)) filter (
            where channel = 'phone'
            and outcome in ('right_party', 'promise_to_pay', 'refused', 'paid_claimed')
        ) as last_conversation_on,
        max(cast(contacted_at as date)) filter (where complaint) as last_complaint_on,
        max(contacted_at) filter (where collector_id is not null) as noted_at,
        arg_max(collector_id, contacted_at) filter (
            where collector_id is not null
        ) as noted_collector_id,
        max(business_date) as known_through,
        -- tonight's phone calls, unordered: a list sorted afterwards costs a third of an
        -- aggregate ordered by time. Each outcome as its place in $outcomes (the outcomes in
        -- alphabetical order, so the calls sort as they would by the text): a list of text
        -- and its sort were 2 of the 3M night's 15.5 s fold (issue 8)
        list(
            struct_pack(called_at := contacted_at, outcome := list_position($outcomes, outcome))
        ) filter (where channel = 'phone') as phone_calls,
        -- a promise is due on its promise_date (a week after it was made when the note has
        -- none), as sql/features.sql reads it
        list(
            struct_pack(
                note_id := note_id,
                promised_on := cast(contacted_at as date),
                due_on := cast(
                    coalesce(promise_date, cast(contacted_at as date) + interval 7 day) as date
                )
            )
        ) filter (where outcome = 'promise_to_pay') as promises,
        -- tonight's failed calls, their times only (folded with the days kept in merged, not
        -- grouped here by day; a call's day is the date of its time)
        list(contacted_at) filter (
            where channel = 'phone' and outcome in ('no_answer', 'wrong_number', 'third_party')
        ) as failed_calls
    from night_notes
    group by client_id, case_id
),

merged as (
    select
        t.client_id,
        t.case_id,
        coalesce(k.attempts, 0) + t.attempts as attempts,
        coalesce(k.right_party_contacts, 0) + t.right_party_contacts as right_party_contacts,
        coalesce(k.wrong_numbers, 0) + t.wrong_numbers as wrong_numbers,
        coalesce(k.refusals, 0) + t.refusals as refusals,
        coalesce(k.complaints, 0) + t.complaints as complaints,
        greatest(k.last_contact_at, t.last_contact_at) as last_contact_at,
        case
            when k.last_contact_at is null or t.last_contact_at >= k.last_contact_at
                then t.last_outcome
            else k.last_outcome
        end as last_outcome,
        greatest(k.last_promise_date, t.last_promise_date) as last_promise_date,
        greatest(k.last_right_party_at, t.last_right_party_at) as last_right_party_at,
        -- the last three phone calls: those kept so far and tonight's, latest first, each
        -- outcome its text again
        case
            when k.last_phone_calls is not null or t.phone_calls is not null
                then list_transform(
                    list_reverse_sort(
                        list_concat(
                            list_transform(
                                k.last_phone_calls,
                                lambda call: struct_pack(
                                    called_at := call.called_at,
                                    outcome := list_position($outcomes, call.outcome)
                                )
                            ),
                            t.phone_calls
                        )
                    )[1:3],
                    lambda call: struct_pack(
                        called_at := call.called_at, outcome := $outcomes[call.outcome]
                    )
                )
        end as last_phone_calls,
        greatest(k.last_letter_at, t.last_letter_at) as last_letter_at,
        case
            when t.last_letter_at is not null
                and (k.last_letter_at is null or t.last_letter_at >= k.last_letter_at)
                then t.last_letter_outcome
            else k.last_letter_outcome
        end as last_letter_outcome,
        greatest(k.last_conversation_on, t.last_conversation_on) as last_conversation_on,
        greatest(k.last_complaint_on, t.last_complaint_on) as last_complaint_on,
        greatest(k.noted_at, t.noted_at) as noted_at,
        case
            when t.noted_at is not null and (k.noted_at is null or t.noted_at >= k.noted_at)
                then t.noted_collector_id
            else k.noted_collector_id
        end as noted_collector_id,
        greatest(k.known_through, t.known_through) as known_through,
        case
            when k.promises is not null or t.promises is not null
                then list_sort(list_concat(k.promises, t.promises))
        end as promises,
        -- the times of the days' last failed calls kept so far and of tonight's failed calls,
        -- in order (by day, then time)
        list_sort(
            list_concat(list_transform(k.failed_days, lambda day: day.called_at), t.failed_calls)
        ) as failed_calls
    from tonight as t
    left join case_contact_stats as k
        on t.client_id = k.client_id and t.case_id = k.case_id
),

since_reach as (
    -- the failed calls after the debtor was last reached (a day counts while its last failed
    -- call is later than the last reach)
    select
        *,
        list_filter(
            failed_calls,
            lambda called_at: last_right_party_at is null or called_at > last_right_party_at
        ) as calls
    from merged
),

final as (
    select
        m.client_id,
        m.case_id,
        m.attempts,
        m.right_party_contacts,
        m.wrong_numbers,
        m.refusals,
        m.complaints,
        m.last_contact_at,
        m.last_outcome,
        m.last_promise_date,
        m.last_right_party_at,
        m.last_phone_calls,
        list_transform(m.last_phone_calls, lambda call: call.outcome) as last_phone_outcomes,
        m.last_letter_at,
        m.last_letter_outcome,
        m.last_conversation_on,
        m.last_complaint_on,
        m.noted_at,
        m.noted_collector_id,
        -- each day once, with its last failed call: the calls stand by day, then time, so a
        -- day's last call is the one the next call does not share the day with; NULL for no day
        case
            when len(m.calls) > 0
                then list_transform(
                    list_filter(
                        m.calls,
                        lambda called_at, i: i = len(m.calls)
                        or cast(m.calls[i + 1] as date) != cast(called_at as date)
                    ),
                    lambda called_at: struct_pack(
                        day := cast(called_at as date), called_at := called_at
                    )
                )
        end as failed_days,
        m.promises,
        m.known_through
    from since_reach as m
)

select * from final
