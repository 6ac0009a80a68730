"""report: the night at a glance for the ops lead, as one self-contained HTML page.

``build_report_data`` reduces the night to aggregates (no debtor rows, so nothing about a
debtor can reach the page); ``render_report`` turns them into HTML with inline CSS and inline
SVG charts drawn here. The page loads nothing from anywhere: it opens offline, from a mail
attachment or a file share, and every text in it is escaped.
"""

from __future__ import annotations

import html
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import polars as pl

from pipeline.assemble import NightFrames
from pipeline.masking import scrub_text

if TYPE_CHECKING:
    from models.score import Scores

SCORE_BINS = 20
# Past this many collectors the per-collector chart shows the best and the worst only (the
# full list stays in a table below it), so the page stays readable and small.
MAX_COLLECTOR_BARS = 60
CHANNEL_ORDER = ("phone", "visit", "letter")


@dataclass(frozen=True)
class CapacityUse:
    """One team (a pool of collectors of one channel): work given tonight against capacity."""

    team: str
    channel: str
    collectors: int
    on_leave: int
    used: int
    capacity: int


@dataclass(frozen=True)
class CollectorLoad:
    collector_id: str
    name: str
    team: str
    channel: str
    cases: int
    capacity: int
    expected_recovery: float


@dataclass(frozen=True)
class InputSummary:
    file: str
    kind: str
    status: str
    rows: int
    message: str


@dataclass(frozen=True)
class ReportData:
    """What report.html shows: aggregates of the night only, never a debtor's row."""

    business_date: str
    run_id: str
    method: str
    model_version: str | None
    model_sha256: str | None
    policy_sha256: str
    rule_pack: str
    book: int
    worked: int
    held: int
    letters: int
    rows_rejected: int
    expected_recovery: float
    extension_due_worked: int
    extension_due_held: int
    worked_by_channel: tuple[tuple[str, int, float], ...]  # channel, cases, expected recovery
    held_by_reason: tuple[tuple[str, int], ...]
    actions: tuple[tuple[str, int], ...]
    capacity: tuple[CapacityUse, ...]
    collectors: tuple[CollectorLoad, ...]
    scored: int
    score_bins_all: tuple[int, ...]  # SCORE_BINS equal bins of p_repay over [0, 1]
    score_bins_worked: tuple[int, ...]
    rejects_by_rule: tuple[tuple[str, int], ...]  # rule, rows
    rejects_by_file: tuple[tuple[str, int], ...]
    inputs: tuple[InputSummary, ...]
    warnings: tuple[str, ...]
    timings: tuple[tuple[str, float], ...]


# --- aggregation -------------------------------------------------------------------------------


def _pairs(frame: pl.DataFrame, key: str) -> tuple[tuple[str, int], ...]:
    """(value of ``key``, rows), most rows first; a missing value shows as "(none)"."""
    if frame.is_empty():
        return ()
    counted = (
        frame.group_by(pl.col(key).cast(pl.Utf8).fill_null("(none)"))
        .len()
        .sort(["len", key], descending=[True, False])
    )
    return tuple((str(k), int(n)) for k, n in counted.iter_rows())


def _rows_per(frame: pl.DataFrame, key: str) -> tuple[tuple[str, int], ...]:
    """Distinct input rows (file, row) per ``key``: a row failing two rules counts once each."""
    if frame.is_empty():
        return ()
    counted = (
        frame.group_by(pl.col(key).cast(pl.Utf8).fill_null("(none)"))
        .agg(pl.struct("file", "row").n_unique().alias("rows"))
        .sort(["rows", key], descending=[True, False])
    )
    return tuple((str(k), int(n)) for k, n in counted.iter_rows())


def _channel_rank(channel: str) -> tuple[int, str]:
    return (CHANNEL_ORDER.index(channel) if channel in CHANNEL_ORDER else 99, channel)


def _by_channel(worklists: pl.DataFrame) -> tuple[tuple[str, int, float], ...]:
    if worklists.is_empty():
        return ()
    grouped = worklists.group_by("channel").agg(
        pl.len().alias("cases"), pl.col("expected_recovery").sum().alias("value")
    )
    rows = [(str(c), int(n), float(v or 0.0)) for c, n, v in grouped.iter_rows()]
    return tuple(sorted(rows, key=lambda r: _channel_rank(r[0])))


def score_bins(p_repay: pl.Series, bins: int = SCORE_BINS) -> tuple[int, ...]:
    """Counts of ``p_repay`` in ``bins`` equal bins over [0, 1] (1.0 falls in the last)."""
    p = p_repay.cast(pl.Float64).drop_nulls()
    p = p.filter(p.is_finite())
    counts = [0] * bins
    if p.is_empty():
        return tuple(counts)
    index = (p.clip(0.0, 1.0) * bins).floor().cast(pl.Int64).clip(0, bins - 1)
    for b, n in pl.DataFrame({"b": index}).group_by("b").len().iter_rows():
        counts[int(b)] = int(n)
    return tuple(counts)


def _capacity(roster: pl.DataFrame, worklists: pl.DataFrame) -> tuple[CapacityUse, ...]:
    team = pl.col("team").fill_null("(no team)")
    pools = roster.group_by(team, "channel").agg(
        pl.col("active").sum().alias("collectors"),
        (~pl.col("active")).sum().alias("on_leave"),
        pl.col("daily_capacity").filter(pl.col("active")).sum().alias("capacity"),
    )
    used = worklists.group_by(team, "channel").len().rename({"len": "used"})
    joined = pools.join(used, on=["team", "channel"], how="full", coalesce=True).with_columns(
        pl.col("collectors", "on_leave", "capacity", "used").fill_null(0)
    )
    rows = [
        CapacityUse(
            team=str(r["team"]),
            channel=str(r["channel"]),
            collectors=int(r["collectors"]),
            on_leave=int(r["on_leave"]),
            used=int(r["used"]),
            capacity=int(r["capacity"]),
        )
        for r in joined.iter_rows(named=True)
    ]
    return tuple(sorted(rows, key=lambda c: (_channel_rank(c.channel), c.team)))


def _collectors(roster: pl.DataFrame, worklists: pl.DataFrame) -> tuple[CollectorLoad, ...]:
    """Every collector in tonight or with work tonight, highest expected recovery first."""
    work = worklists.group_by("collector_id").agg(
        pl.len().alias("cases"), pl.col("expected_recovery").sum().alias("value")
    )
    people = roster.select(
        "collector_id",
        "name",
        "team",
        "channel",
        pl.when(pl.col("active")).then(pl.col("daily_capacity")).otherwise(0).alias("capacity"),
        "active",
    )
    joined = (
        people.join(work, on="collector_id", how="full", coalesce=True)
        .filter(pl.col("active").fill_null(False) | pl.col("cases").is_not_null())
        .with_columns(pl.col("cases", "capacity").fill_null(0), pl.col("value").fill_null(0.0))
        .sort(["value", "collector_id"], descending=[True, False])
    )
    return tuple(
        CollectorLoad(
            collector_id=str(r["collector_id"]),
            name=str(r["name"] or ""),
            team=str(r["team"] or ""),
            channel=str(r["channel"] or ""),
            cases=int(r["cases"]),
            capacity=int(r["capacity"]),
            expected_recovery=float(r["value"]),
        )
        for r in joined.iter_rows(named=True)
    )


def _inputs(manifest: dict[str, Any]) -> tuple[InputSummary, ...]:
    return tuple(
        InputSummary(
            file=str(f.get("file", "")),
            kind=str(f.get("kind") or ""),
            status=str(f.get("status", "")),
            rows=int(f.get("rows") or 0),
            # Library messages can quote raw values: hide long digit runs (ids, cards, phones).
            message=scrub_text(str(f.get("message") or "")),
        )
        for f in manifest.get("inputs", [])
    )


def build_report_data(
    manifest: dict[str, Any],
    frames: NightFrames,
    roster: pl.DataFrame,
    scores: Scores,
    rejects: pl.DataFrame,
) -> ReportData:
    """Reduce the night to what report.html shows (see ``ReportData``)."""
    counts: dict[str, Any] = manifest.get("counts", {})
    worklists, holds = frames.worklists, frames.holds
    rows_rejected = counts.get("rows_rejected")
    if rows_rejected is None:
        rows_rejected = rejects.select(pl.struct("file", "row").n_unique()).item()
    return ReportData(
        business_date=str(manifest.get("business_date", "")),
        run_id=str(manifest.get("run_id", "")),
        method=str(scores.method),
        model_version=None if scores.model_version is None else str(scores.model_version),
        model_sha256=None if scores.model_sha256 is None else str(scores.model_sha256),
        policy_sha256=str(manifest.get("policy_sha256", "")),
        rule_pack=str(manifest.get("rule_pack", "")),
        book=int(counts.get("book", worklists.height + holds.height)),
        worked=worklists.height,
        held=holds.height,
        letters=frames.letters.height,
        rows_rejected=int(rows_rejected),
        expected_recovery=float(worklists.get_column("expected_recovery").sum() or 0.0),
        extension_due_worked=int(worklists.get_column("extension_due").fill_null(False).sum()),
        extension_due_held=holds.filter(pl.col("detail") == "extension due").height,
        worked_by_channel=_by_channel(worklists),
        held_by_reason=_pairs(holds, "reason"),
        actions=_pairs(worklists, "action"),
        capacity=_capacity(roster, worklists),
        collectors=_collectors(roster, worklists),
        scored=scores.frame.height,
        score_bins_all=score_bins(scores.frame.get_column("p_repay")),
        score_bins_worked=score_bins(worklists.get_column("p_repay")),
        rejects_by_rule=_rows_per(rejects, "rule"),
        rejects_by_file=_rows_per(rejects, "file"),
        inputs=_inputs(manifest),
        warnings=tuple(scrub_text(str(w)) for w in manifest.get("warnings", [])),
        timings=tuple(
            (str(k), float(v)) for k, v in dict(manifest.get("timings_seconds", {})).items()
        ),
    )


# --- SVG charts --------------------------------------------------------------------------------

_WIDTH = 760
_LABEL_W = 230
_BAR_W = 400
_ROW_H = 22


def _e(value: object) -> str:
    return html.escape(str(value), quote=True)


def _money(value: float) -> str:
    return f"¥{value:,.0f}"


def _count(n: int, noun: str) -> str:
    return f"{n:,} {noun}" if n == 1 else f"{n:,} {noun}s"


def _clip(text: str, width: int = 32) -> str:
    """``text`` cut to ``width`` display columns (CJK counts two), with an ellipsis."""
    out, used = "", 0
    for ch in text:
        w = 2 if unicodedata.east_asian_width(ch) in "WF" else 1
        if used + w > width:
            return out + "…"
        out, used = out + ch, used + w
    return out


def _channel_css(channel: str) -> str:
    return f"c-{channel}" if channel in CHANNEL_ORDER else "c-other"


def _svg(height: int, caption: str, body: Iterable[str]) -> str:
    # No xmlns: inline SVG in HTML needs none, and the page then holds no URL at all.
    return (
        f'<svg viewBox="0 0 {_WIDTH} {height}" width="{_WIDTH}" height="{height}" '
        f'role="img" aria-label="{_e(caption)}"><title>{_e(caption)}</title>'
        + "".join(body)
        + "</svg>"
    )


def _empty(caption: str) -> str:
    return _svg(36, caption, [f'<text x="8" y="22" class="muted">{_e(caption)}: none</text>'])


@dataclass(frozen=True)
class Bar:
    label: str
    value: float
    text: str
    css: str = "c-other"
    tip: str = ""


def bar_chart(bars: Sequence[Bar], caption: str) -> str:
    """Horizontal bars, one per row, scaled to the largest value, labelled both ends."""
    if not bars:
        return _empty(caption)
    top = max((b.value for b in bars), default=0.0) or 1.0
    parts = []
    for i, b in enumerate(bars):
        y = 4 + i * _ROW_H
        w = 0.0 if b.value <= 0 else max(1.0, b.value / top * _BAR_W)
        tip = f"<title>{_e(b.tip or f'{b.label}: {b.text}')}</title>"
        parts.append(
            f"<g>{tip}"
            f'<text x="{_LABEL_W - 8}" y="{y + 15}" text-anchor="end">{_e(_clip(b.label))}</text>'
            f'<rect x="{_LABEL_W}" y="{y + 3}" width="{w:.1f}" height="{_ROW_H - 6}" '
            f'class="{_e(b.css)}"/>'
            f'<text x="{_LABEL_W + w + 6:.1f}" y="{y + 15}">{_e(b.text)}</text></g>'
        )
    return _svg(8 + len(bars) * _ROW_H, caption, parts)


def capacity_chart(pools: Sequence[CapacityUse], caption: str) -> str:
    """Per team: capacity as a pale bar, work given tonight drawn over it."""
    if not pools:
        return _empty(caption)
    top = max(max(p.capacity, p.used) for p in pools) or 1
    parts = []
    for i, p in enumerate(pools):
        y = 4 + i * _ROW_H
        cap_w = p.capacity / top * _BAR_W
        used_w = p.used / top * _BAR_W
        share = f"{p.used / p.capacity:.0%}" if p.capacity else "no capacity"
        css = "over" if p.used > p.capacity else _channel_css(p.channel)
        label = f"{p.team} ({p.channel})"
        text = f"{p.used:,} / {p.capacity:,} ({share})"
        tip = f"{label}: {text}; {p.collectors} in, {p.on_leave} on leave"
        parts.append(
            f"<g><title>{_e(tip)}</title>"
            f'<text x="{_LABEL_W - 8}" y="{y + 15}" text-anchor="end">{_e(_clip(label))}</text>'
            f'<rect x="{_LABEL_W}" y="{y + 3}" width="{cap_w:.1f}" height="{_ROW_H - 6}" '
            f'class="cap"/>'
            f'<rect x="{_LABEL_W}" y="{y + 6}" width="{used_w:.1f}" height="{_ROW_H - 12}" '
            f'class="{css}"/>'
            f'<text x="{_LABEL_W + max(cap_w, used_w) + 6:.1f}" y="{y + 15}">{_e(text)}</text>'
            "</g>"
        )
    return _svg(8 + len(pools) * _ROW_H, caption, parts)


def histogram(all_bins: Sequence[int], worked_bins: Sequence[int], caption: str) -> str:
    """p_repay of every scored case (pale) with the worked ones drawn over (dark)."""
    if not any(all_bins) and not any(worked_bins):
        return _empty(caption)
    left, top, plot_w, plot_h = 60, 24, 640, 170
    peak = max(*all_bins, *worked_bins, 1)
    step = plot_w / len(all_bins)
    parts = [
        f'<rect x="{left}" y="6" width="10" height="10" class="hist-all"/>'
        f'<text x="{left + 14}" y="15">all scored cases</text>'
        f'<rect x="{left + 150}" y="6" width="10" height="10" class="hist-worked"/>'
        f'<text x="{left + 164}" y="15">worked tonight</text>',
        f'<line x1="{left}" y1="{top + plot_h}" x2="{left + plot_w}" y2="{top + plot_h}" '
        'class="axis"/>',
        f'<text x="{left - 6}" y="{top + 10}" text-anchor="end">{peak:,}</text>'
        f'<text x="{left - 6}" y="{top + plot_h}" text-anchor="end">0</text>',
    ]
    for i, (n_all, n_worked) in enumerate(zip(all_bins, worked_bins, strict=True)):
        x = left + i * step
        lo, hi = i / len(all_bins), (i + 1) / len(all_bins)
        tip = f"p_repay {lo:.0%}–{hi:.0%}: {n_all:,} scored, {n_worked:,} worked"
        parts.append(f"<g><title>{_e(tip)}</title>")
        for n, css in ((n_all, "hist-all"), (n_worked, "hist-worked")):
            h = n / peak * plot_h
            parts.append(
                f'<rect x="{x + 1:.1f}" y="{top + plot_h - h:.1f}" width="{step - 2:.1f}" '
                f'height="{h:.1f}" class="{css}"/>'
            )
        parts.append("</g>")
    for q in (0.0, 0.25, 0.5, 0.75, 1.0):
        parts.append(
            f'<text x="{left + q * plot_w:.1f}" y="{top + plot_h + 16}" '
            f'text-anchor="middle">{q:.0%}</text>'
        )
    return _svg(top + plot_h + 24, caption, parts)


def _collector_bars(collectors: Sequence[CollectorLoad]) -> list[Bar]:
    def bar(c: CollectorLoad) -> Bar:
        return Bar(
            label=f"{c.collector_id} {c.name}",
            value=c.expected_recovery,
            text=f"{_money(c.expected_recovery)} · {c.cases}/{c.capacity}",
            css=_channel_css(c.channel),
            tip=f"{c.collector_id} {c.name} ({c.team}, {c.channel}): "
            f"{_money(c.expected_recovery)} expected from {c.cases} cases, capacity {c.capacity}",
        )

    if len(collectors) <= MAX_COLLECTOR_BARS:
        return [bar(c) for c in collectors]
    half = MAX_COLLECTOR_BARS // 2
    hidden = len(collectors) - 2 * half
    gap = Bar(label=f"… {hidden:,} more …", value=0.0, text="")
    return [bar(c) for c in collectors[:half]] + [gap] + [bar(c) for c in collectors[-half:]]


# --- the page ----------------------------------------------------------------------------------

_CSS = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI","PingFang SC","Microsoft YaHei",sans-serif;
margin:0 auto;max-width:1000px;padding:16px 24px;color:#222;background:#fff}
h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:28px 0 8px;border-bottom:1px solid #ddd}
.meta{color:#555;margin:0}code{background:#f3f3f3;padding:0 4px;border-radius:3px}
.banner{border-radius:6px;padding:10px 14px;margin:14px 0;font-weight:600}
.banner.warn{background:#fff4ce;border:1px solid #e0b400}
.tiles{display:flex;flex-wrap:wrap;gap:10px}
.tile{border:1px solid #ddd;border-radius:6px;padding:8px 12px;min-width:130px}
.tile b{display:block;font-size:20px}.tile span{color:#555;font-size:12px}
table{border-collapse:collapse;margin:8px 0}th,td{padding:3px 10px;border-bottom:1px solid #eee;
text-align:left}td.n,th.n{text-align:right;font-variant-numeric:tabular-nums}
svg{display:block;max-width:100%;height:auto;font-size:12px}svg text{fill:#333}
.muted{fill:#888;color:#888}.cap{fill:#e6e6e6}.over{fill:#d62728}.axis{stroke:#999}
.c-phone{fill:#4e79a7}.c-visit{fill:#f28e2b}.c-letter{fill:#59a14f}.c-other{fill:#9c9c9c}
.hist-all{fill:#c6d7ea}.hist-worked{fill:#2f5f8f}.bad{fill:#b5543c}
details summary{cursor:pointer;color:#2f5f8f}
"""


def _table(headers: Sequence[str], rows: Iterable[Sequence[object]], numeric: set[int]) -> str:
    def cell(tag: str, i: int, v: object) -> str:
        css = ' class="n"' if i in numeric else ""
        return f"<{tag}{css}>{_e(v)}</{tag}>"

    head = "".join(cell("th", i, h) for i, h in enumerate(headers))
    body = "".join(
        "<tr>" + "".join(cell("td", i, v) for i, v in enumerate(r)) + "</tr>" for r in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _tile(value: str, label: str) -> str:
    return f'<div class="tile"><b>{_e(value)}</b><span>{_e(label)}</span></div>'


def _section(anchor: str, title: str, *content: str, chart: bool = False) -> str:
    css = ' class="chart"' if chart else ""
    return f'<section id="{anchor}"{css}><h2>{_e(title)}</h2>{"".join(content)}</section>'


def _model_line(d: ReportData) -> str:
    if d.method == "rule":
        return "scoring: R6 rule (no trained model)"
    sha = f", sha256 {d.model_sha256[:12]}…" if d.model_sha256 else ""
    return f"scoring: model {d.model_version or '(unversioned)'}{sha}"


def _banners(d: ReportData) -> str:
    if d.method != "rule":
        return ""
    return (
        '<div class="banner warn" id="rule-fallback">Tonight\'s ranking is by the R6 rule '
        "(ability to pay, then days overdue), not by a trained model. Run "
        "<code>caseflow train</code> once the warehouse holds history, so the next nights "
        "are ranked by the model.</div>"
    )


def _glance(d: ReportData) -> str:
    tiles = [
        _tile(f"{d.book:,}", "cases in the book"),
        _tile(f"{d.worked:,}", "worked tonight"),
        _tile(f"{d.held:,}", "held"),
        _tile(f"{d.letters:,}", "letters"),
        _tile(f"{d.rows_rejected:,}", "input rows rejected"),
        _tile(_money(d.expected_recovery), "expected recovery"),
        _tile(
            f"{d.extension_due_worked + d.extension_due_held:,}",
            f"extension due, R3 ({d.extension_due_held:,} held)",
        ),
    ]
    return _section("glance", "The night at a glance", f'<div class="tiles">{"".join(tiles)}</div>')


def _channel_section(d: ReportData) -> str:
    bars = [
        Bar(ch, n, f"{_count(n, 'case')} · {_money(v)}", _channel_css(ch))
        for ch, n, v in d.worked_by_channel
    ]
    table = _table(
        ("channel", "cases", "expected recovery"),
        ((ch, f"{n:,}", _money(v)) for ch, n, v in d.worked_by_channel),
        {1, 2},
    )
    return _section(
        "channels", "Worked by channel", bar_chart(bars, "cases by channel"), table, chart=True
    )


def _capacity_section(d: ReportData) -> str:
    return _section(
        "capacity",
        "Capacity use per team",
        capacity_chart(d.capacity, "cases given against daily capacity, per team"),
        chart=True,
    )


def _collector_section(d: ReportData) -> str:
    note = ""
    if len(d.collectors) > MAX_COLLECTOR_BARS:
        note = (
            f'<p class="muted">The {MAX_COLLECTOR_BARS // 2} highest and lowest of '
            f"{len(d.collectors):,} collectors; all are in the table below.</p>"
        )
    table = _table(
        ("collector", "name", "team", "channel", "cases", "capacity", "expected recovery"),
        (
            (
                c.collector_id,
                c.name,
                c.team,
                c.channel,
                f"{c.cases:,}",
                f"{c.capacity:,}",
                _money(c.expected_recovery),
            )
            for c in d.collectors
        ),
        {4, 5, 6},
    )
    return _section(
        "collectors",
        "Expected recovery per collector",
        bar_chart(_collector_bars(d.collectors), "expected recovery per collector"),
        note,
        f"<details><summary>All {len(d.collectors):,} collectors</summary>{table}</details>",
        chart=True,
    )


def _score_section(d: ReportData) -> str:
    return _section(
        "scores",
        "Score distribution tonight",
        f'<p class="muted">p_repay of {d.scored:,} scored cases, {d.worked:,} worked.</p>',
        histogram(d.score_bins_all, d.score_bins_worked, "distribution of p_repay"),
        chart=True,
    )


def _reject_section(d: ReportData) -> str:
    bars = [Bar(rule, n, _count(n, "row"), "bad") for rule, n in d.rejects_by_rule]
    by_file = _table(("file", "rows rejected"), ((f, f"{n:,}") for f, n in d.rejects_by_file), {1})
    return _section(
        "rejects",
        "Rejected input rows by rule",
        bar_chart(bars, "rejected rows by rule"),
        by_file if d.rejects_by_file else "",
        chart=True,
    )


def _holds_section(d: ReportData) -> str:
    bars = [Bar(reason, n, _count(n, "case")) for reason, n in d.held_by_reason]
    return _section("holds", "Held by reason", bar_chart(bars, "held cases by reason"), chart=True)


def _tables(d: ReportData) -> str:
    actions = _table(("action", "cases"), ((a, f"{n:,}") for a, n in d.actions), {1})
    warnings = (
        _table(("warning",), ((w,) for w in d.warnings), set())
        if d.warnings
        else '<p class="muted">No warnings.</p>'
    )
    inputs = _table(
        ("file", "kind", "status", "rows", "message"),
        ((f.file, f.kind, f.status, f"{f.rows:,}", f.message) for f in d.inputs),
        {3},
    )
    total = sum(s for _, s in d.timings)
    timings = _table(
        ("stage", "seconds"),
        [*((k, f"{s:.3f}") for k, s in d.timings), ("total", f"{total:.3f}")],
        {1},
    )
    return "".join(
        (
            _section("actions", "First action on the worklists", actions),
            _section("warnings", "Warnings", warnings),
            _section("inputs", "Files received", inputs),
            _section("timings", "Timings per stage", timings),
        )
    )


def render_report(d: ReportData) -> str:
    """report.html: one self-contained page (inline CSS and SVG, no script, no link)."""
    meta = " · ".join(
        (
            f"run {d.run_id}",
            _model_line(d),
            f"rule pack {d.rule_pack}",
            f"policy {d.policy_sha256[:12]}",
        )
    )
    body = "".join(
        (
            f"<header><h1>caseflow: the night of {_e(d.business_date)}</h1>"
            f'<p class="meta">{_e(meta)}</p></header>',
            _banners(d),
            _glance(d),
            _channel_section(d),
            _capacity_section(d),
            _collector_section(d),
            _score_section(d),
            _reject_section(d),
            _holds_section(d),
            _tables(d),
        )
    )
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>caseflow night {_e(d.business_date)}</title><style>{_CSS}</style></head>"
        f'<body>{body}<footer><p class="muted">Written by caseflow publish; self-contained, '
        "opens offline.</p></footer></body></html>\n"
    )
