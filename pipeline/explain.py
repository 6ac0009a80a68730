"""explain: where a case went on a night, and why (``caseflow explain CASE_ID``).

For the client who asks "why was this case moved?" and the ops lead who must answer: the case's
score and its reasons, the rules that applied (identity verified, do-not-contact, promises,
extension due, each channel allowed or the rule that barred it), the decision (the collector and
channel with the action, or the hold and its reason), what changed since the night before and
why, and any row of the night's files about the case that was rejected, with the rule it broke.

Everything comes from the warehouse as the night recorded it (``pipeline.review``); a rejected
row is found in the archived file it came from. Names are shown masked and no phone, id or card
number is shown at all: the answer may be pasted into a mail to the client.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import duckdb
import polars as pl

from pipeline import warehouse
from pipeline.errors import CaseflowError, InputFileError, UsageError
from pipeline.export import published_nights, reading
from pipeline.ingest import read_file
from pipeline.masking import mask_name
from pipeline.parts import debtor_part


@dataclass(frozen=True)
class Explanation:
    client_id: str
    case_id: str
    business_date: date | None
    lines: list[str]

    def text(self) -> str:
        return "\n".join(self.lines)


def _rows(con: duckdb.DuckDBPyConnection, sql: str, params: list[Any]) -> list[dict[str, Any]]:
    return warehouse.select(con, sql, params).to_dicts()


def _money(value: Any) -> str:
    return "—" if value is None else f"¥{float(value):,.2f}"


def _clients(con: duckdb.DuckDBPyConnection, case_id: str) -> list[str]:
    rows = con.execute(
        "select client_id from cases where case_id = ? "
        "union select client_id from decisions where case_id = ? order by 1",
        [case_id, case_id],
    ).fetchall()
    return [str(r[0]) for r in rows]


def _archived(home: Path, recorded: str, day: date) -> Path:
    """The archived file: where the night recorded it, or under this home folder (a home given
    as a relative path, then used from another folder)."""
    path = Path(recorded)
    if path.is_file():
        return path
    return home / "archive" / day.isoformat() / path.name


def _rejected_rows(
    con: duckdb.DuckDBPyConnection,
    home: Path,
    day: date,
    case_id: str,
    client_id: str | None,
) -> list[dict[str, Any]]:
    """Rejected rows of ``day``'s files that name the case, read back from the archive."""
    files = _rows(
        con,
        "select distinct r.file, f.archived_path from rejects as r "
        "inner join received_files as f "
        "on f.file_name = r.file and f.business_date = r.business_date "
        "where r.business_date = ? and r.row > 0 order by r.file",
        [day],
    )
    found: list[dict[str, Any]] = []
    for entry in files:
        try:
            data = _archived(home, str(entry["archived_path"]), day).read_bytes()
            # the keys alone of a Parquet file: the notes of a large night are tens of millions
            # of rows, read whole in seconds for each question (8 of 10 s at 3M cases)
            _, frame, _ = read_file(data, str(entry["file"]), only=("client_id", "case_id"))
        except (OSError, InputFileError):
            continue
        if "case_id" not in frame.columns:
            continue
        match = pl.col("case_id").str.strip_chars() == case_id
        if client_id is not None and "client_id" in frame.columns:
            match &= pl.col("client_id").str.strip_chars() == client_id
        hits = frame.filter(match)
        if hits.is_empty():
            continue
        clients = (
            hits.get_column("client_id").to_list()
            if "client_id" in hits.columns
            else [None] * hits.height
        )
        for row, client in zip(hits.get_column("_row").to_list(), clients, strict=True):
            for reject in _rows(
                con,
                'select kind, "column", rule, value from rejects '
                'where business_date = ? and file = ? and "row" = ? order by "column", rule',
                [day, entry["file"], row],
            ):
                found.append({"file": entry["file"], "row": row, "client_id": client, **reject})
    return found


def _pick_client(con: duckdb.DuckDBPyConnection, case_id: str, client_id: str | None) -> str | None:
    clients = _clients(con, case_id)
    if client_id is not None:
        return client_id
    if len(clients) > 1:
        raise UsageError(
            f"case {case_id} exists for several clients ({', '.join(clients)}): "
            "say which with --client"
        )
    return clients[0] if clients else None


def _pick_date(
    con: duckdb.DuckDBPyConnection, case_id: str, client_id: str | None, day: date | None
) -> date | None:
    nights = published_nights(con)
    if day is not None:
        if day not in nights:
            known = ", ".join(d.isoformat() for d in nights[:5]) or "none yet"
            raise UsageError(
                f"--date {day.isoformat()}: no night published for that date "
                f"(latest published: {known})"
            )
        return day
    if client_id is not None:
        rows = con.execute(
            "select max(business_date) from decisions where client_id = ? and case_id = ?",
            [client_id, case_id],
        ).fetchall()
        if rows and rows[0][0] is not None:
            found: date = rows[0][0]
            return found
    return nights[0] if nights else None


def _score_lines(
    d: dict[str, Any], method: str, version: str | None, reasons: str | None
) -> list[str]:
    by = f"model {version}" if method == "model" and version else "the R6 rule (no model)"
    lines = [
        f"  score: p_repay {float(d['p_repay'] or 0):.1%} by {by}; expected recovery "
        f"{_money(d['expected_recovery'])}"
    ]
    if reasons:
        lines.append(f"    reasons: {reasons}")
    return lines


def _reasons(
    con: duckdb.DuckDBPyConnection,
    home: Path,
    day: date,
    d: dict[str, Any],
    method: str,
    version: str | None,
) -> str | None:
    """The case's reasons: as the night stored them (its worked cases'), else worded now, as
    the night would have, from the night's features and model (the night words only its worked
    cases' reasons, issue 8). None when the night's model can no longer be loaded."""
    if d.get("reasons"):
        return str(d["reasons"])
    if d.get("placement") != "held":
        return None
    # imported here: the model's modules are needed for this answer only
    from models.features import night_features
    from models.score import NightScorer, night_model

    try:
        scorer = NightScorer(night_model(home, version) if method == "model" else None)
    except CaseflowError:
        return None
    part = debtor_part(con, day, d["client_id"], d["case_id"])
    if part is None:
        return None
    features = night_features(con, day, part)
    case = features.filter(
        (pl.col("client_id") == d["client_id"]) & (pl.col("case_id") == d["case_id"])
    )
    words = scorer.reasons(case).get_column("reasons")
    return str(words[0]) if len(words) and words[0] is not None else None


def _rule_lines(d: dict[str, Any], day: date) -> list[str]:
    contacts = int(d.get("right_party_contacts") or 0)
    verified = (
        f"yes ({contacts} right-party contact{'' if contacts == 1 else 's'})"
        if d.get("verified")
        else "no: the first contact must verify identity before any collection"
    )
    if d.get("promise_due"):
        promise = "due today: confirm the payment"
    elif d.get("promise_pending"):
        promise = "made and not yet due: the debtor is left alone until then"
    elif d.get("promise_broken"):
        promise = "broken in the last 7 days: follow up"
    else:
        promise = "none open"
    lines = [
        "  rules that applied:",
        f"    status {d['status']}; do-not-contact: {'yes' if d.get('do_not_contact') else 'no'}",
        f"    identity verified (R19): {verified}",
        f"    promise to pay: {promise}",
        "    extension due (R3): "
        + (
            f"yes, return date {d['return_date']}: ask the client or prepare the return"
            if d.get("extension_due")
            else f"no (return date {d['return_date']})"
        ),
    ]
    if d.get("phone_invalid"):
        lines.append("    phone: the last three calls reached a wrong number (trace, R4)")
    if d["placement"] == "held" and d.get("hold_reason") != "over capacity":
        return lines
    for channel in ("phone", "visit", "letter"):
        value = d.get(f"value_{channel}")
        if d.get(f"can_{channel}"):
            worth = (
                f"the debtor is worth {_money(value)} net by {channel}" if value is not None else ""
            )
            lines.append(f"    {channel}: allowed; {worth}".rstrip("; "))
        else:
            lines.append(
                f"    {channel}: not allowed: {d.get(f'{channel}_rule') or 'not eligible'}"
            )
    return lines


def _decision_lines(
    d: dict[str, Any], work: dict[str, Any] | None, con: duckdb.DuckDBPyConnection, day: date
) -> list[str]:
    if d["placement"] == "held":
        detail = f" ({d['hold_detail']})" if d.get("hold_detail") else ""
        lines = [f"  decision: held: {d['hold_reason']}{detail}"]
        if d.get("hold_reason") == "over capacity":
            lines.append(
                "    every collector who could take the debtor was full with more valuable work"
            )
        return lines
    who = d["collector_id"]
    if work is not None:
        name = work.get("collector_name")
        team = work.get("team")
        who = f"{d['collector_id']} {name or ''}".strip() + (f" ({team})" if team else "")
    size = con.execute(
        "select count(*) from allocations where business_date = ? and collector_id = ?",
        [day, d["collector_id"]],
    ).fetchall()[0][0]
    lines = [
        f"  decision: worked by {who}, {d['channel']}, rank {d['rank']} of {size}",
        f"    action: {d['action']}",
    ]
    if work is not None and work.get("call_window"):
        lines.append(f"    call window: {work['call_window']}")
    values = {c: d.get(f"value_{c}") for c in ("phone", "visit", "letter")}
    allowed = {c: v for c, v in values.items() if v is not None}
    if len(allowed) > 1:
        others = ", ".join(f"{c} {_money(v)}" for c, v in allowed.items() if c != d["channel"])
        best = max(allowed, key=lambda c: allowed[c] or 0.0)
        why = (
            "the most valuable channel the rules allow"
            if best == d["channel"]
            else f"{best} was worth more but its collectors were full"
        )
        lines.append(
            f"    channel: {d['channel']} {_money(values[d['channel']])}, {why} ({others})"
        )
    if d.get("previous_collector_id"):
        stayed = d["previous_collector_id"] == d["collector_id"]
        lines.append(
            f"    continuity: worked before by {d['previous_collector_id']}"
            + (f" (last on {d['previous_worked_on']})" if d.get("previous_worked_on") else "")
            + ("; kept with the same collector" if stayed else "; moved (see below)")
        )
    return lines


def _since_lines(
    con: duckdb.DuckDBPyConnection, client_id: str, case_id: str, day: date, d: dict[str, Any]
) -> list[str]:
    review = con.execute(
        "select compared_with from night_reviews where business_date = ?", [day]
    ).fetchall()
    compared = str(review[0][0]) if review else "the night before"
    change = _rows(
        con,
        "select change, before, after, reason from changes "
        "where business_date = ? and client_id = ? and case_id = ?",
        [day, client_id, case_id],
    )
    lines = [f"  since {compared}:"]
    if change:
        c = change[0]
        moved = f"{c['before']} → {c['after']}" if c["before"] else f"→ {c['after']}"
        lines.append(f"    {c['change']}: {moved}: {c['reason']}")
    elif "notes" in compared:
        lines.append("    nothing moved as far as the last collection notes tell")
    else:
        lines.append("    no change: the same collector and channel, or the same hold")
    previous = con.execute(
        "select max(business_date) from case_snapshots "
        "where business_date < ? and client_id = ? and case_id = ?",
        [day, client_id, case_id],
    ).fetchall()
    before: date | None = previous[0][0] if previous else None
    if before is None:
        return lines
    then = _rows(
        con,
        "select status, balance from case_snapshots "
        "where business_date = ? and client_id = ? and case_id = ?",
        [before, client_id, case_id],
    )
    if then:
        was = then[0]
        if was["status"] != d["status"]:
            lines.append(f"    status: {was['status']} → {d['status']} (as of {before})")
        if was["balance"] is not None and float(was["balance"]) != float(d["balance"] or 0):
            lines.append(
                f"    balance: {_money(was['balance'])} on {before} → {_money(d['balance'])}"
            )
    paid = con.execute(
        "select count(*), sum(amount) from payments "
        "where client_id = ? and case_id = ? and paid_on > ? and paid_on <= ?",
        [client_id, case_id, before, day],
    ).fetchall()[0]
    notes = _rows(
        con,
        "select outcome, complaint from contacts where client_id = ? and case_id = ? "
        "and contacted_at >= ? and contacted_at < ? order by contacted_at",
        [client_id, case_id, before + timedelta(days=1), day + timedelta(days=1)],
    )
    if paid[0]:
        lines.append(f"    payments since {before}: {paid[0]} ({_money(paid[1])})")
    if notes:
        complaints = sum(bool(n["complaint"]) for n in notes)
        lines.append(
            f"    collection notes since {before}: {len(notes)}, the last: {notes[-1]['outcome']}"
            + (f"; {complaints} with a complaint" if complaints else "")
        )
    return lines


def explain_case(
    home: Path, case_id: str, business_date: date | None = None, client_id: str | None = None
) -> Explanation:
    """Where ``case_id`` went on ``business_date`` (default: its latest night), and why."""
    case_id = case_id.strip()
    if not case_id:
        raise UsageError("CASE_ID: give the case id as the client's file has it")
    with reading(home) as con:
        client = _pick_client(con, case_id, client_id)
        day = _pick_date(con, case_id, client, business_date)
        if day is None:
            raise CaseflowError("no night has been published yet: nothing to explain")
        rejected = _rejected_rows(con, home, day, case_id, client)
        if client is None and rejected:
            client = next((r["client_id"] for r in rejected if r["client_id"]), None)
        lines = _explain(con, home, case_id, client, day, rejected)
    return Explanation(client or "", case_id, day, lines)


def _explain(
    con: duckdb.DuckDBPyConnection,
    home: Path,
    case_id: str,
    client: str | None,
    day: date,
    rejected: list[dict[str, Any]],
) -> list[str]:
    title = f"case {case_id}" + (f" of {client}" if client else "")
    found = (
        _rows(
            con,
            "select * from decisions where business_date = ? and client_id = ? and case_id = ?",
            [day, client, case_id],
        )
        if client is not None
        else []
    )
    run = _rows(
        con,
        "select run_id, manifest->>'$.model.method' as method, model_version from runs "
        "where business_date = ? and outcome = 'published' order by finished_at desc limit 1",
        [day],
    )
    run_id = run[0]["run_id"] if run else "?"
    lines = [f"{title}, the night of {day.isoformat()} (run {run_id})"]
    reject_lines = [
        f"    {r['file']} row {r['row']}: column {r['column']} broke {r['rule']}"
        + (f" (value {r['value']})" if r.get("value") else "")
        for r in rejected
    ]
    if reject_lines:
        lines.append("  rejected that night (the row was set aside whole, see rejected.csv):")
        lines.extend(reject_lines)
        if found:
            lines.append("    the night used the case as an earlier file gave it")
    if not found:
        lines.extend(_absent_lines(con, case_id, client, day, bool(rejected)))
        return lines
    d = found[0]
    work_rows = _rows(
        con,
        "select collector_name, team, call_window, customer_name from allocations "
        "where business_date = ? and client_id = ? and case_id = ?",
        [day, client, case_id],
    )
    work = work_rows[0] if work_rows else None
    debtor = _rows(
        con,
        "select customer_name, count(*) over () as cases from cases "
        "where client_id = ? and customer_id = ? limit 1",
        [client, d["customer_id"]],
    )
    name = mask_name(debtor[0]["customer_name"]) if debtor else None
    cases = debtor[0]["cases"] if debtor else 1
    lines.append(
        f"  debtor {d['customer_id']}"
        + (f" ({name})" if name else "")
        + f", {cases} case{'s' if cases != 1 else ''} with {client}; this case owes "
        f"{_money(d['balance'])}, {d['days_overdue']} days overdue ({d['overdue_stage']})"
    )
    method = str(run[0]["method"] or "model") if run else "model"
    version = run[0]["model_version"] if run else None
    lines.extend(_score_lines(d, method, version, _reasons(con, home, day, d, method, version)))
    lines.extend(_rule_lines(d, day))
    lines.extend(_decision_lines(d, work, con, day))
    lines.extend(_since_lines(con, str(client), case_id, day, d))
    return lines


def _absent_lines(
    con: duckdb.DuckDBPyConnection,
    case_id: str,
    client: str | None,
    day: date,
    rejected: bool,
) -> list[str]:
    """Why a case is in no worklist and no hold of the night."""
    no_valid_row = (
        "  no valid row of this case has reached the warehouse, so it was in no worklist and no "
        "hold: the client must send the row again, corrected"
    )
    if client is None:
        if rejected:
            return [no_valid_row]
        raise CaseflowError(
            f"case {case_id} is not in the warehouse, and no row of the night of "
            f"{day.isoformat()} names it"
        )
    state = _rows(
        con,
        "select status, balance from case_snapshots "
        "where business_date = ? and client_id = ? and case_id = ?",
        [day, client, case_id],
    )
    if not state:
        if rejected:
            return [no_valid_row]
        return [f"  not in the book that night: the case had not been received by {day}"]
    status = state[0]["status"]
    return [
        f"  not in the night's book: status {status} since an earlier night "
        "(closed cases are listed once, the night they close)"
    ]
