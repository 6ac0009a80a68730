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
    source_file VARCHAR,
    PRIMARY KEY (client_id, case_id)
);

-- The state of every known case at the end of each business night: what the model learns from.
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
    do_not_contact BOOLEAN NOT NULL,
    PRIMARY KEY (business_date, client_id, case_id)
);

CREATE TABLE IF NOT EXISTS payments (
    client_id VARCHAR NOT NULL,
    payment_id VARCHAR NOT NULL,
    case_id VARCHAR NOT NULL,
    paid_on DATE NOT NULL,
    amount DECIMAL(18, 2) NOT NULL,
    business_date DATE NOT NULL,
    PRIMARY KEY (client_id, payment_id)
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
    business_date DATE NOT NULL,
    PRIMARY KEY (client_id, note_id)
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

CREATE TABLE IF NOT EXISTS holds (
    business_date DATE NOT NULL,
    run_id VARCHAR NOT NULL,
    client_id VARCHAR NOT NULL,
    case_id VARCHAR NOT NULL,
    reason VARCHAR NOT NULL,
    PRIMARY KEY (business_date, client_id, case_id)
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
