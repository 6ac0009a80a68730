-- The warehouse's tables. Idempotent: run at every connection.
-- Money is DECIMAL(18,2): exact, as the client's ledger is.
CREATE TABLE IF NOT EXISTS received_files (
    sha256 VARCHAR PRIMARY KEY,
    file_name VARCHAR NOT NULL,
    kind VARCHAR,
    business_date DATE NOT NULL,
    received_at TIMESTAMP NOT NULL,
    archived_path VARCHAR NOT NULL,
    rows_read INTEGER,
    rows_loaded INTEGER,
    rows_rejected INTEGER,
    status VARCHAR NOT NULL
);

CREATE TABLE IF NOT EXISTS cases (
    client_id VARCHAR NOT NULL,
    case_id VARCHAR NOT NULL,
    batch_id VARCHAR,
    product VARCHAR NOT NULL,
    customer_id VARCHAR NOT NULL,
    customer_name VARCHAR NOT NULL,
    id_number VARCHAR,
    card_number VARCHAR,
    phone VARCHAR,
    address VARCHAR,
    province VARCHAR,
    city VARCHAR NOT NULL,
    district VARCHAR,
    principal DECIMAL(18, 2) NOT NULL,
    amount_owed DECIMAL(18, 2) NOT NULL,
    days_overdue INTEGER NOT NULL,
    last_payment_date DATE,
    last_payment_amount DECIMAL(18, 2),
    handover_date DATE NOT NULL,
    return_date DATE NOT NULL,
    status VARCHAR NOT NULL,
    do_not_contact BOOLEAN NOT NULL,
    as_of DATE NOT NULL,          -- business date of the file this row came from
    source_file VARCHAR
    -- Issue 8: no PRIMARY KEY (client_id, case_id). The load keeps one row per key (validate
    -- sets repeated keys aside, and a later night updates known cases and inserts only new
    -- ones: pipeline/load.py _upsert_cases); the key's index cost 27 of the 47 s it took to
    -- load and commit 10M cases. A warehouse created before keeps its key; nothing relies on it.
);

-- The state of every known case at the end of each business night: what the model learns from.
-- Issue 8: case_snapshots, payments and contacts keep their keys unique without a PRIMARY KEY
-- (the load deletes a night's snapshot before writing it, and appends only payments and notes
-- whose key is new): the key's index cost 8 CPU seconds to add 5M notes and grows in memory with
-- the history. A warehouse created before keeps its keys; nothing relies on them.
CREATE TABLE IF NOT EXISTS case_snapshots (
    business_date DATE NOT NULL,
    client_id VARCHAR NOT NULL,
    case_id VARCHAR NOT NULL,
    customer_id VARCHAR NOT NULL,
    product VARCHAR NOT NULL,
    city VARCHAR NOT NULL,
    principal DECIMAL(18, 2) NOT NULL,
    balance DECIMAL(18, 2) NOT NULL,   -- amount_owed less payments received since as_of
    days_overdue INTEGER NOT NULL,     -- as reported, aged to business_date
    handover_date DATE NOT NULL,
    return_date DATE NOT NULL,
    status VARCHAR NOT NULL,
    do_not_contact BOOLEAN NOT NULL
);
-- Whether the case had a phone number and an address that night (sql/snapshot_cases.sql): the
-- night's book reads them here, not from the 10M-row cases table in every part (issue 8).
ALTER TABLE case_snapshots ADD COLUMN IF NOT EXISTS has_phone BOOLEAN;
ALTER TABLE case_snapshots ADD COLUMN IF NOT EXISTS has_address BOOLEAN;

CREATE TABLE IF NOT EXISTS payments (
    client_id VARCHAR NOT NULL,
    payment_id VARCHAR NOT NULL,
    case_id VARCHAR NOT NULL,
    paid_on DATE NOT NULL,
    amount DECIMAL(18, 2) NOT NULL,
    business_date DATE NOT NULL
);

CREATE TABLE IF NOT EXISTS contacts (
    client_id VARCHAR NOT NULL,
    note_id VARCHAR NOT NULL,
    case_id VARCHAR NOT NULL,
    collector_id VARCHAR,
    channel VARCHAR NOT NULL,
    contacted_at TIMESTAMP NOT NULL,
    outcome VARCHAR NOT NULL,
    promise_amount DECIMAL(18, 2),
    promise_date DATE,
    complaint BOOLEAN NOT NULL,
    business_date DATE NOT NULL
);

CREATE TABLE IF NOT EXISTS collectors (
    collector_id VARCHAR PRIMARY KEY,
    name VARCHAR,
    team VARCHAR,
    channel VARCHAR NOT NULL,
    cities VARCHAR[],
    daily_capacity INTEGER NOT NULL,
    active BOOLEAN NOT NULL,
    business_date DATE NOT NULL
);

CREATE TABLE IF NOT EXISTS runs (
    run_id VARCHAR PRIMARY KEY,
    business_date DATE NOT NULL,
    started_at TIMESTAMP NOT NULL,
    finished_at TIMESTAMP,
    outcome VARCHAR NOT NULL,
    model_version VARCHAR,
    manifest JSON
);

-- The published allocation of each night (one row per case worked), for export/explain/continuity.
CREATE TABLE IF NOT EXISTS allocations (
    business_date DATE NOT NULL,
    run_id VARCHAR NOT NULL,
    client_id VARCHAR NOT NULL,
    case_id VARCHAR NOT NULL,
    customer_id VARCHAR NOT NULL,
    collector_id VARCHAR NOT NULL,
    channel VARCHAR NOT NULL,
    action VARCHAR NOT NULL,
    rank INTEGER NOT NULL,
    p_repay DOUBLE,
    expected_recovery DOUBLE,
    PRIMARY KEY (business_date, client_id, case_id)
);

-- The holds of the nights recorded before `holds` became a view of the decisions (issue 8, see
-- the view at the end): pipeline/warehouse.py renames an older warehouse's `holds` table to
-- this, and no night writes here any more. Empty in a warehouse created since.
CREATE TABLE IF NOT EXISTS holds_recorded (
    business_date DATE NOT NULL,
    run_id VARCHAR NOT NULL,
    client_id VARCHAR NOT NULL,
    case_id VARCHAR NOT NULL,
    reason VARCHAR NOT NULL
);

-- Every input row that failed validation, by night, so a re-run republishes the same rejected.csv.
CREATE TABLE IF NOT EXISTS rejects (
    business_date DATE NOT NULL,
    file VARCHAR NOT NULL,
    "row" BIGINT NOT NULL,
    kind VARCHAR,
    "column" VARCHAR NOT NULL,
    rule VARCHAR NOT NULL,
    value VARCHAR
);

-- Issue 6: what each night showed and why, so that `caseflow export`, `report` and `explain`
-- answer the day after from the warehouse alone. Additive: an older warehouse upgrades in place
-- (nights recorded before have NULL here and are re-exported after a re-run of the night).

-- What each worklist row showed (id and card numbers as published: masked).
ALTER TABLE allocations ADD COLUMN IF NOT EXISTS collector_name VARCHAR;
ALTER TABLE allocations ADD COLUMN IF NOT EXISTS team VARCHAR;
ALTER TABLE allocations ADD COLUMN IF NOT EXISTS customer_name VARCHAR;
ALTER TABLE allocations ADD COLUMN IF NOT EXISTS phone VARCHAR;
ALTER TABLE allocations ADD COLUMN IF NOT EXISTS id_number VARCHAR;
ALTER TABLE allocations ADD COLUMN IF NOT EXISTS card_number VARCHAR;
ALTER TABLE allocations ADD COLUMN IF NOT EXISTS city VARCHAR;
ALTER TABLE allocations ADD COLUMN IF NOT EXISTS district VARCHAR;
ALTER TABLE allocations ADD COLUMN IF NOT EXISTS address VARCHAR;
ALTER TABLE allocations ADD COLUMN IF NOT EXISTS amount_owed DOUBLE;
ALTER TABLE allocations ADD COLUMN IF NOT EXISTS debtor_total_owed DOUBLE;
ALTER TABLE allocations ADD COLUMN IF NOT EXISTS days_overdue INTEGER;
ALTER TABLE allocations ADD COLUMN IF NOT EXISTS overdue_stage VARCHAR;
ALTER TABLE allocations ADD COLUMN IF NOT EXISTS reasons VARCHAR;
ALTER TABLE allocations ADD COLUMN IF NOT EXISTS call_window VARCHAR;
ALTER TABLE allocations ADD COLUMN IF NOT EXISTS return_date DATE;
ALTER TABLE allocations ADD COLUMN IF NOT EXISTS extension_due BOOLEAN;
-- The rule pack's limits a phone row carried (pipeline/rules).
ALTER TABLE allocations ADD COLUMN IF NOT EXISTS attempts_allowed INTEGER;
ALTER TABLE allocations ADD COLUMN IF NOT EXISTS connected_calls_allowed INTEGER;
-- Issue 4: one debtor's rows share a reference (no id number in it) and the cycle week (R1).
ALTER TABLE allocations ADD COLUMN IF NOT EXISTS debtor_ref VARCHAR;
ALTER TABLE allocations ADD COLUMN IF NOT EXISTS cycle INTEGER;
ALTER TABLE allocations ADD COLUMN IF NOT EXISTS cycle_week INTEGER;

ALTER TABLE holds_recorded ADD COLUMN IF NOT EXISTS customer_id VARCHAR;
ALTER TABLE holds_recorded ADD COLUMN IF NOT EXISTS detail VARCHAR;

-- Every case of each night's book: the rules, the values, where it went (pipeline/changes.py).
-- Issue 8: no PRIMARY KEY (record_review deletes a night's rows before writing them): the index
-- was 40% of the cost of adding a night (1.4-2.2 s per million cases) and grows in memory with
-- every night kept. A warehouse created before keeps its key; nothing relies on it.
CREATE TABLE IF NOT EXISTS decisions (
    business_date DATE NOT NULL,
    run_id VARCHAR NOT NULL,
    client_id VARCHAR NOT NULL,
    case_id VARCHAR NOT NULL,
    customer_id VARCHAR,
    city VARCHAR,
    status VARCHAR,
    previous_status VARCHAR,
    balance DOUBLE,
    days_overdue INTEGER,
    overdue_stage VARCHAR,
    handover_date DATE,
    return_date DATE,
    p_repay DOUBLE,
    expected_recovery DOUBLE,
    reasons VARCHAR,
    verified BOOLEAN,
    do_not_contact BOOLEAN,
    promise_due BOOLEAN,
    promise_pending BOOLEAN,
    promise_broken BOOLEAN,
    extension_due BOOLEAN,
    phone_invalid BOOLEAN,
    attempts BIGINT,
    right_party_contacts BIGINT,
    recent_complaints BIGINT,
    last_outcome VARCHAR,
    can_phone BOOLEAN,
    can_visit BOOLEAN,
    can_letter BOOLEAN,
    phone_rule VARCHAR,
    visit_rule VARCHAR,
    letter_rule VARCHAR,
    value_phone DOUBLE,
    value_visit DOUBLE,
    value_letter DOUBLE,
    previous_collector_id VARCHAR,
    previous_worked_on DATE,
    placement VARCHAR NOT NULL,
    collector_id VARCHAR,
    channel VARCHAR,
    rank INTEGER,
    action VARCHAR,
    hold_reason VARCHAR,
    hold_detail VARCHAR,
    strategy_group VARCHAR
);
-- champion or challenger (pipeline/strategy.py), for the report's recovery by group.
ALTER TABLE decisions ADD COLUMN IF NOT EXISTS strategy_group VARCHAR;

-- What moved since the night before (changes.csv).
CREATE TABLE IF NOT EXISTS changes (
    business_date DATE NOT NULL,
    run_id VARCHAR NOT NULL,
    client_id VARCHAR NOT NULL,
    customer_id VARCHAR,
    case_id VARCHAR NOT NULL,
    change VARCHAR NOT NULL,
    before VARCHAR,
    after VARCHAR,
    reason VARCHAR,
    reason_kind VARCHAR
);

-- The collectors' scorecards over the cycle ending on each night (scorecards.csv, R25).
CREATE TABLE IF NOT EXISTS scorecards (
    business_date DATE NOT NULL,
    run_id VARCHAR NOT NULL,
    collector_id VARCHAR NOT NULL,
    collector_name VARCHAR,
    team VARCHAR,
    channel VARCHAR,
    cycle_start DATE,
    cycle_end DATE,
    cases_allocated BIGINT,
    cases_worked BIGINT,
    attempts BIGINT,
    right_party_contacts BIGINT,
    promises BIGINT,
    promises_due BIGINT,
    promises_kept BIGINT,
    kept_rate DOUBLE,
    amount_recovered DOUBLE,
    complaints BIGINT,
    PRIMARY KEY (business_date, collector_id)
);

-- The roster as it stood on each night (the collectors table holds only the latest).
CREATE TABLE IF NOT EXISTS night_rosters (
    business_date DATE NOT NULL,
    collector_id VARCHAR NOT NULL,
    name VARCHAR,
    team VARCHAR,
    channel VARCHAR,
    cities VARCHAR[],
    daily_capacity INTEGER,
    active BOOLEAN,
    PRIMARY KEY (business_date, collector_id)
);

-- Each night's review: what its changes were compared with, and its scorecards' cycle.
CREATE TABLE IF NOT EXISTS night_reviews (
    business_date DATE PRIMARY KEY,
    run_id VARCHAR NOT NULL,
    compared_with VARCHAR NOT NULL,
    cycle_start DATE NOT NULL
);

-- Issue 8: per case, what all its collection notes loaded so far say, folded in at each load
-- from that night's new notes only (sql/contact_stats.sql), so that the night's book
-- (sql/night_part.sql) does not rescan every note ever loaded. Rebuilt from contacts when missing.
CREATE TABLE IF NOT EXISTS case_contact_stats (
    client_id VARCHAR NOT NULL,
    case_id VARCHAR NOT NULL,
    attempts BIGINT NOT NULL,
    right_party_contacts BIGINT NOT NULL,
    wrong_numbers BIGINT NOT NULL,
    refusals BIGINT NOT NULL,
    complaints BIGINT NOT NULL,
    last_contact_at TIMESTAMP,
    last_outcome VARCHAR,
    last_promise_date DATE,
    last_right_party_at TIMESTAMP,
    last_phone_calls STRUCT(called_at TIMESTAMP, outcome VARCHAR)[],  -- the last three
    last_phone_outcomes VARCHAR[],  -- their outcomes, latest first
    last_letter_at TIMESTAMP,
    last_letter_outcome VARCHAR,
    last_conversation_on DATE,
    last_complaint_on DATE,
    noted_at TIMESTAMP,
    noted_collector_id VARCHAR,
    failed_days STRUCT(day DATE, called_at TIMESTAMP)[],  -- failed calls since the last reach
    promises STRUCT(note_id VARCHAR, promised_on DATE, due_on DATE)[],  -- every promise to pay
    known_through DATE  -- the latest night whose notes are folded in
);

-- Every held case of each night, with its reason (holds.csv, sql/holds_csv.sql). Issue 8: a view
-- of the decisions, which keep every case of the book with where it went: a held decision is
-- exactly a hold (pipeline/changes.py decisions_frame), and a table of its own wrote nearly the
-- whole book a second time every night (8.5 s of a 10M-case night, 9.9M rows). The nights
-- recorded before keep their rows in holds_recorded: those without decisions are read there.
-- (the columns it reads, in place on a decisions table older than them)
ALTER TABLE decisions ADD COLUMN IF NOT EXISTS customer_id VARCHAR;
ALTER TABLE decisions ADD COLUMN IF NOT EXISTS hold_reason VARCHAR;
ALTER TABLE decisions ADD COLUMN IF NOT EXISTS hold_detail VARCHAR;
CREATE OR REPLACE VIEW holds AS
SELECT
    business_date,
    run_id,
    client_id,
    case_id,
    customer_id,
    hold_reason AS reason,
    hold_detail AS detail
FROM decisions
WHERE placement = 'held'
UNION ALL
SELECT business_date, run_id, client_id, case_id, customer_id, reason, detail
FROM holds_recorded AS r
WHERE NOT EXISTS (SELECT 1 FROM night_reviews AS n WHERE n.business_date = r.business_date);
