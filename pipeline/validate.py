"""validate: parse the night's text frames and check them against the contract.

Two steps, both reporting every failure of every row at once:
1. parse: each value as banks write it (``pipeline.parse``); a value that is present but cannot be
   read is a failure ``unreadable_*`` of that row and column, never a guess;
2. check: the pandera schemas of ``pipeline.schemas`` on the parsed frames.

A row with any failure is set aside whole, with one line per failure in the rejects (file, row,
column, rule, and the offending value masked); every other row goes on. Nothing is dropped
without a line in the rejects.

Two files of one night may carry the same key (a correction sent after the first file): the
contract makes the later file an update, so the later row (by file name, then row) goes on and
the earlier one is set aside as ``superseded``, its line naming the file and row that replaced
it. Every row read is thus either loaded or in the rejects, with a reason.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date

import numpy as np
import pandera.polars as pa
import polars as pl

from pipeline import parse
from pipeline.headers import FEW_VALUES, VALUE_TYPES
from pipeline.ingest import ROW_COLUMNS, SHAPE_COLUMN, UNDECODABLE, RawTables
from pipeline.masking import mask_value
from pipeline.schemas import SCHEMAS, VALUE_ALIASES, repeated

REJECT_SCHEMA: dict[str, pl.DataType | type[pl.DataType]] = {
    "file": pl.Utf8,
    "row": pl.Int64,
    "kind": pl.Utf8,
    "column": pl.Utf8,
    "rule": pl.Utf8,
    "value": pl.Utf8,
}
# pandera's name for a null in a required column, and ours
_PANDERA_RULES = {"not_nullable": "required"}
# A parsed column that stands for another in the client's file (the roster's city list).
_FILE_COLUMN = {"cities": "city"}
# Rules about a whole row (its fields cannot be trusted): the row's other failures are not listed.
_ROW_RULES = ("wrong_field_count", "undecodable_text")
# The key of each kind across the files of one night (load upserts or appends by it).
KEYS: dict[str, tuple[str, ...]] = {
    "cases": ("client_id", "case_id"),
    "payments": ("client_id", "payment_id"),
    "contacts": ("client_id", "note_id"),
    "collectors": ("collector_id",),
}


@dataclass(frozen=True)
class Validated:
    frames: dict[str, pl.DataFrame]  # kind -> the good rows, typed, with _file and _row
    rejects: pl.DataFrame  # REJECT_SCHEMA, one line per failure


def _is_xlsx(files: pl.Series) -> pl.Series:
    """Which rows come from a workbook (Excel serial day numbers are dates only there)."""
    names = files.unique().cast(pl.Utf8).drop_nulls().to_list()
    return files.is_in([n for n in names if n.lower().endswith(".xlsx")]).fill_null(False)


# Optional columns with a contract default when blank.
DEFAULTS: dict[str, dict[str, object]] = {
    "cases": {"status": "active", "do_not_contact": False},
    "contacts": {"complaint": False},
    "collectors": {"active": True},
}
# Words compared in lower case (the contract's enumerations), with the Chinese aliases.
ENUMERATIONS = {"product", "status", "channel", "outcome"}


def _word(column: str) -> pl.Expr:
    text = parse.clean(column)
    lowered = text.str.to_lowercase().str.replace_all(r"[\s\-]+", "_")
    aliases = VALUE_ALIASES.get(column)
    if aliases:
        return text.replace_strict(aliases, default=lowered, return_dtype=pl.Utf8)
    return lowered


def _cities(column: str) -> pl.Expr:
    """``上海;杭州`` (also ， 、 , as typed in Chinese files) -> a list of trimmed city names."""
    parts = parse.clean(column).str.replace_all(r"[；,，、]", ";").str.split(";")
    return (
        parts.list.eval(pl.element().str.strip_chars().filter(pl.element().str.len_chars() > 0))
        .fill_null(pl.lit([], dtype=pl.List(pl.Utf8)))
        .alias("cities")
    )


def _clean_text(values: pl.Series) -> pl.Series:
    """Trimmed, blank as null; the column itself (no copy) when no value needs it, as in files
    written by machines. A column of few values is cleaned per value, and a Categorical."""
    if values.name in FEW_VALUES:
        return _by_distinct(values, parse.clean)
    if values.dtype != pl.Utf8:
        values = values.cast(pl.Utf8)
    frame = values.to_frame("v")
    # a regex, not a stripped copy: 50M notes' ids would cost gigabytes for a yes or no
    if not frame.select(pl.col("v").str.contains(r"^\s|\s$|^$").any()).item():
        return values
    return frame.select(parse.clean("v")).to_series().alias(values.name)


def _by_distinct(values: pl.Series, expr: Callable[[str], pl.Expr]) -> pl.Series:
    """``expr`` (text -> text, on a column name) over a column of few values (``FEW_VALUES``),
    computed once per distinct value; a Categorical, the column itself when no value changes."""
    mapped = (
        values.unique()
        .cast(pl.Utf8)
        .to_frame()
        .select(pl.col(values.name).alias("old"), expr(values.name).alias("new"))
    )
    changed = mapped.filter(pl.col("old").ne_missing(pl.col("new")))
    if not changed.is_empty():
        values = values.cast(pl.Utf8).replace(changed.get_column("old"), changed.get_column("new"))
    return values.cast(pl.Categorical)


def _parse_column(
    values: pl.Series, value_type: str, xlsx: Callable[[], pl.Series]
) -> tuple[pl.Series, pl.Series]:
    """The parsed column and the positions of its present but unreadable values."""
    parsed = None if values.dtype == pl.Utf8 else parse.parse_typed(values, value_type)
    if parsed is None:
        text = values if values.dtype == pl.Utf8 else values.cast(pl.Utf8)
        parsed = parse.parse_text(text, value_type, xlsx())
        missing = (parsed.is_null() & text.is_not_null()).arg_true()
        # blank text is absent, not unreadable
        present = text.gather(missing).str.strip_chars().str.len_chars() > 0
        return parsed, missing.filter(present)
    return parsed, (parsed.is_null() & values.is_not_null()).arg_true()


def parse_kind(kind: str, raw: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Typed frame (row-aligned with ``raw``) and the unreadable-value failures of ``kind``."""
    types = VALUE_TYPES.get(kind, {})
    xlsx_rows: list[pl.Series] = []

    def xlsx() -> pl.Series:  # computed once, and only when a column is read as text
        if not xlsx_rows:
            xlsx_rows.append(_is_xlsx(raw.get_column("_file")))
        return xlsx_rows[0]

    typed_columns: list[pl.Series | pl.Expr] = []
    failures: list[pl.DataFrame] = []
    for column in raw.columns:
        values = raw.get_column(column)
        if column == "_file":
            typed_columns.append(values.cast(pl.Categorical))
        elif column in ROW_COLUMNS or column == SHAPE_COLUMN:
            typed_columns.append(values)
        elif column in types:
            parsed, bad = _parse_column(values, types[column], xlsx)
            if bad.len() > 0:
                failures.append(_failure_rows(raw, bad, kind, column, parse.RULES[types[column]]))
            typed_columns.append(parsed)
        elif column in ENUMERATIONS:
            typed_columns.append(_by_distinct(values, _word))
        elif kind == "collectors" and column == "city":
            typed_columns.append(
                values.cast(pl.Utf8).to_frame().select(_cities(column)).to_series()
            )
        else:
            typed_columns.append(_clean_text(values))
    typed = raw.select(typed_columns)
    # only the columns with a blank to fill: filling a Categorical with text goes through a
    # text copy of the whole column (a third of a second for a million statuses)
    defaults = {
        c: v for c, v in DEFAULTS.get(kind, {}).items() if typed.get_column(c).null_count() > 0
    }
    typed = typed.with_columns(
        pl.col(c).fill_null(pl.lit(v)).cast(typed.schema[c]) for c, v in defaults.items()
    )
    return typed, _concat(failures)


def _as_text(values: pl.Series) -> list[str | None]:
    """Values as the file shows them: text as it is, typed values (Parquet) as Arrow writes them."""
    if values.dtype in (pl.Utf8, pl.Categorical):
        return values.cast(pl.Utf8).to_list()
    import pyarrow as pa
    import pyarrow.compute as pc

    texts = pc.cast(values.to_arrow(), pa.large_string())
    return [None if v is None else str(v) for v in texts.to_pylist()]


def _failure_rows(
    raw: pl.DataFrame, index: pl.Series, kind: str, column: str, rule: str
) -> pl.DataFrame:
    """Reject lines for the rows of ``raw`` at ``index``: the value masked per column."""
    rows = raw[index]
    file_column = _FILE_COLUMN.get(column, column)
    values = rows.get_column(file_column) if file_column in rows.columns else None
    masked = [mask_value(file_column, v) for v in _as_text(values)] if values is not None else None
    return pl.DataFrame(
        {
            "_index": index.cast(pl.Int64),
            "file": rows.get_column("_file").cast(pl.Utf8),
            "row": rows.get_column("_row"),
            "kind": [kind] * rows.height,
            "column": [file_column] * rows.height,
            "rule": [rule] * rows.height,
            "value": pl.Series(masked, dtype=pl.Utf8) if masked is not None else None,
        },
        schema={"_index": pl.Int64, **REJECT_SCHEMA},
    )


def _concat(parts: list[pl.DataFrame]) -> pl.DataFrame:
    if not parts:
        return pl.DataFrame(schema={"_index": pl.Int64, **REJECT_SCHEMA})
    return pl.concat(parts, how="vertical")


def _schema_failures(
    kind: str, typed: pl.DataFrame, raw: pl.DataFrame, business_date: date
) -> pl.DataFrame:
    """Run the kind's pandera schema over every row; one line per failing (row, column, rule)."""
    try:
        SCHEMAS[kind](business_date).validate(typed, lazy=True)
    except pa.errors.SchemaErrors as errors:
        cases = errors.failure_cases.filter(pl.col("index").is_not_null())
        found = cases.select(
            pl.col("index").cast(pl.Int64).alias("_index"),
            pl.col("column"),
            pl.col("check").replace(_PANDERA_RULES).alias("rule"),
        ).unique(maintain_order=True)
        parts = [
            _failure_rows(raw, group.get_column("_index").sort(), kind, str(column), str(rule))
            for (column, rule), group in found.group_by(["column", "rule"], maintain_order=True)
        ]
        return _concat(parts)
    return _concat([])


def _shape_failures(kind: str, raw: pl.DataFrame) -> pl.DataFrame:
    """Rows with more or fewer fields than the header, or in no known encoding: their columns
    cannot be trusted."""
    bad = raw.with_row_index("_index").filter(pl.col(SHAPE_COLUMN).is_not_null())
    if bad.is_empty():
        return _concat([])
    undecodable = pl.col(SHAPE_COLUMN).str.starts_with(UNDECODABLE)
    return bad.select(
        pl.col("_index").cast(pl.Int64),
        pl.col("_file").cast(pl.Utf8).alias("file"),
        pl.col("_row").alias("row"),
        pl.lit(kind).alias("kind"),
        pl.lit("(row)").alias("column"),
        pl.when(undecodable)
        .then(pl.lit(_ROW_RULES[1]))
        .otherwise(pl.lit(_ROW_RULES[0]))
        .alias("rule"),
        pl.col(SHAPE_COLUMN).alias("value"),
    )


def _one_reason_per_cell(failures: pl.DataFrame) -> pl.DataFrame:
    """An unreadable value is reported as such, not again as missing; a malformed row once."""
    unreadable = failures.filter(pl.col("rule").str.starts_with("unreadable_"))
    redundant = (pl.col("rule") == "required") & pl.struct("_index", "column").is_in(
        unreadable.select(pl.struct("_index", "column")).to_series().implode()
    )
    misshapen = failures.filter(pl.col("rule").is_in(_ROW_RULES)).get_column("_index")
    shadowed = pl.col("_index").is_in(misshapen.implode()) & ~pl.col("rule").is_in(_ROW_RULES)
    return failures.filter(~redundant & ~shadowed)


def validate_kind(
    kind: str, raw: pl.DataFrame, business_date: date, duplicates: pl.Series | None = None
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The good rows of one kind (typed) and the rejects of its bad rows.

    ``raw`` is not needed once the failures are found: a caller that hands it over without
    keeping it (``validate`` does, for ``RawTables``) lets its text columns go before the good
    rows are copied out, so a night never holds its raw, parsed and good frames at once.

    ``raw`` may be one batch of a file read in batches: ``duplicates`` then holds the row
    numbers (``_row``) of the rows whose key the file repeats, found over the whole file
    (``duplicate_rows``); they are ``duplicate_key`` here whether or not the other row of the
    pair is in this batch (a pair within the batch is found again, and its line is the same).
    """
    typed, unreadable = parse_kind(kind, raw)
    failures = pl.concat(
        [
            unreadable,
            _schema_failures(kind, typed, raw, business_date),
            _shape_failures(kind, raw),
            _known_duplicates(kind, raw, duplicates),
        ],
        how="vertical",
    )
    del raw
    failures = _one_reason_per_cell(failures)
    typed = typed.drop(SHAPE_COLUMN)
    return _emptied_into_good(typed, failures.get_column("_index").unique()), failures.drop(
        "_index"
    )


def _known_duplicates(kind: str, raw: pl.DataFrame, rows: pl.Series | None) -> pl.DataFrame:
    """The reject lines pandera's ``duplicate_key`` would give the rows of ``raw`` numbered
    ``rows`` (the check names the key's last column)."""
    if rows is None or rows.len() == 0:
        return _concat([])
    at = raw.get_column("_row").is_in(rows.implode()).arg_true()
    return _failure_rows(raw, at, kind, KEYS[kind][-1], "duplicate_key")


def typed_keys(kind: str, raw: pl.DataFrame) -> pl.DataFrame:
    """The key columns of ``raw`` as ``parse_kind`` types them (trimmed, blank as null), as
    text: what ``duplicate_key`` and ``superseded`` compare."""
    return pl.DataFrame([_clean_text(raw.get_column(k)).cast(pl.Utf8) for k in KEYS[kind]])


def key_hashes(kind: str, raw: pl.DataFrame) -> pl.Series:
    """A 64-bit hash of each row's typed key: equal keys, equal hashes (a pass over a file's
    keys keeps 8 bytes a row, not the keys)."""
    return typed_keys(kind, raw).hash_rows()


def duplicate_rows(kind: str, keys: pl.DataFrame, rows: pl.Series) -> pl.Series:
    """Of one file's rows numbered ``rows`` with their ``typed_keys``, those pandera's
    ``duplicate_key`` sets aside: the key repeated in the file, its last column not blank.
    ``keys`` needs only hold every row that may repeat one (whose key hash repeats)."""
    last = KEYS[kind][-1]
    flagged = keys.select(pl.struct(pl.all()).is_duplicated() & pl.col(last).is_not_null())
    return rows.filter(flagged.to_series())


def _in_two_files(good: pl.DataFrame, keys: list[str]) -> pl.Series:
    """Positions of the rows whose key may be in another file too: none when the rows come from
    one file (within a file a key is unique, ``duplicate_key``) or when the files' ranges of the
    first key (the client) do not overlap; else the rows whose key's hash repeats (cheap to find,
    and a superset of the rows wanted). The usual night costs a pass over two columns."""
    none = pl.Series("_index", [], dtype=pl.UInt32)
    runs = good.select(pl.col("_file").rle_id()).to_series()
    if runs.max() == 0:
        return none
    first = good.get_column(keys[0])
    if first.null_count() == 0:
        ranges = (
            good.select(runs.alias("_run"), first)
            .group_by("_run")
            .agg(pl.col(keys[0]).min().alias("low"), pl.col(keys[0]).max().alias("high"))
            .sort("low")
        )
        lows = ranges.get_column("low").to_list()
        highs = ranges.get_column("high").to_list()
        if all(high < low for high, low in zip(highs[:-1], lows[1:], strict=True)):
            return none
    return repeated(good.select(keys).hash_rows())


def superseded(kind: str, good: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The rows of ``good`` that go on, and the rejects of rows a later file replaces.

    Within one file a key is unique (``duplicate_key``), so a key seen twice here comes from
    two files: the last by (file name, row) stays, each earlier one is set aside naming it.
    """
    keys = list(KEYS.get(kind, ()))
    if good.is_empty() or not keys:
        return good, _concat([]).drop("_index")
    candidates = _in_two_files(good, keys)
    if candidates.len() == 0:
        return good, _concat([]).drop("_index")
    ordered = good[candidates].with_columns(candidates.cast(pl.Int64)).sort("_file", "_row")
    last = ordered.group_by(keys, maintain_order=True).agg(
        pl.col("_index").last().alias("_keep"),
        pl.col("_file").last().alias("_by_file"),
        pl.col("_row").last().alias("_by_row"),
    )
    marked = ordered.join(last, on=keys, how="left", nulls_equal=True)
    replaced = marked.filter(pl.col("_index") != pl.col("_keep"))
    if replaced.is_empty():
        return good, _concat([]).drop("_index")
    rejects = replaced.select(
        pl.col("_file").alias("file"),
        pl.col("_row").alias("row"),
        pl.lit(kind).alias("kind"),
        pl.lit(keys[-1]).alias("column"),
        pl.lit("superseded").alias("rule"),
        pl.format("by {} row {}", "_by_file", "_by_row").alias("value"),
    )
    return _without(good, replaced.get_column("_index")), rejects.cast(REJECT_SCHEMA)  # type: ignore[arg-type]


def _without(frame: pl.DataFrame, positions: pl.Series) -> pl.DataFrame:
    """``frame`` less the rows at ``positions`` (the frame itself when there are none)."""
    if positions.len() == 0:
        return frame
    return frame.filter(_keep_mask(frame.height, positions))


def _keep_mask(height: int, positions: pl.Series) -> pl.Series:
    keep = np.ones(height, dtype=bool)
    keep[positions.to_numpy()] = False
    return pl.Series(keep)


def _emptied_into_good(frame: pl.DataFrame, positions: pl.Series) -> pl.DataFrame:
    """``frame`` less the rows at ``positions``, moved column by column: each column is taken
    out of ``frame`` (which ends empty) and let go once copied, so the peak is the frame and
    one column, not two frames (notes of a 10M-case night are gigabytes)."""
    if positions.len() == 0:
        return frame
    mask = _keep_mask(frame.height, positions)
    return pl.DataFrame([frame.drop_in_place(name).filter(mask) for name in list(frame.columns)])


def _take(tables: Mapping[str, pl.DataFrame], kind: str) -> pl.DataFrame:
    return tables.pop(kind) if isinstance(tables, RawTables) else tables[kind]


def validate(tables: Mapping[str, pl.DataFrame], business_date: date) -> Validated:
    """Validate every kind of the night; see the module docstring.

    ``tables`` as ingest returns them (``RawTables``) are taken over: each kind is removed from
    them as it is validated, so that its raw frame is let go (a 10M-case night cannot hold the
    raw and the validated frames at once). Any other mapping is left as it is.
    """
    frames: dict[str, pl.DataFrame] = {}
    rejects: list[pl.DataFrame] = []
    for kind in sorted(tables):
        # ingest's tables are handed over: each kind's raw frame let go as it is validated
        good, bad = validate_kind(kind, _take(tables, kind), business_date)
        good, replaced = superseded(kind, good)
        frames[kind] = good
        rejects.extend([bad, replaced])
    return Validated(frames=frames, rejects=sorted_rejects(rejects))


def sorted_rejects(parts: Sequence[pl.DataFrame]) -> pl.DataFrame:
    """The night's reject lines by file, row, column and rule, each once (a batch's own
    ``duplicate_key`` line and the whole file's are the same line)."""
    all_rejects = pl.concat(parts, how="vertical") if parts else pl.DataFrame(schema=REJECT_SCHEMA)
    return all_rejects.sort("file", "row", "column", "rule").unique(maintain_order=True)
