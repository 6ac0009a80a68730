"""The model card read by people: a few lines for the terminal and one self-contained HTML page.

Both are drawn from the card's JSON only (``card.json`` beside the model file), which holds
figures, never a debtor's row: so neither can show a name, an id, a card or a phone number.
The page carries its CSS and its plots (inline SVG, drawn here) and loads nothing from anywhere;
every text in it is escaped.
"""

from __future__ import annotations

import html
from collections.abc import Iterable, Sequence
from typing import Any

# (name, CSS class) of the two scores every plot shows
SERIES = (("model", "s-model"), ("baseline", "s-base"))


def _pct(value: float) -> str:
    return f"{value:.1%}"


def _segment_line(title: str, rows: Sequence[dict[str, Any]], limit: int = 8) -> str:
    parts = []
    for row in rows[:limit]:
        model, base = row.get("model_roc_auc"), row.get("baseline_roc_auc")
        if model is None:
            parts.append(f"{row['value']} n/a")
        else:
            parts.append(f"{row['value']} {model:.3f} ({base:.3f})")
    more = f" · … {len(rows) - limit} more" if len(rows) > limit else ""
    return f"  ROC AUC by {title}, model (baseline): " + " · ".join(parts) + more


def summary_lines(card: dict[str, Any]) -> list[str]:
    """What `caseflow train` and `caseflow models show` print about a version."""
    data, check = card["data"], card["validation"]
    window = data["window"]
    model, base = card["metrics"]["model"], card["metrics"]["baseline"]
    importance = card["permutation_importance"]["model"]
    top = sorted(importance.items(), key=lambda kv: (-kv[1], kv[0]))[:5]
    lines = [
        f"model {card['version']}: nights {window['first_night']}..{window['last_night']} "
        f"(outcomes known by {window['known_by']}), {data['rows']:,} case-nights, "
        f"{_pct(data['positive_rate'])} paid within {card['label']['horizon_days']} days; "
        f"training data sha256 {data['sha256'][:12]}…",
        f"held out {check['rows']:,} case-nights of {', '.join(check['nights'])} (recipe "
        f"trained on {check['training_rows']:,} case-nights of "
        f"{check['training_nights'][0]}..{check['training_nights'][-1]}):",
    ]
    for name, m in (("model", model), ("baseline", base)):
        lines.append(
            f"  {name:<9} ROC AUC {m['roc_auc']:.3f}  PR AUC {m['pr_auc']:.3f}  "
            f"Brier {m['brier']:.4f}  KS {m['ks']:.3f}  top-decile lift "
            f"{m['deciles'][0]['lift']:.1f}  calibration error "
            f"{card['calibration'][name]['ece']:.3f}"
        )
    for column, title in (("product", "product"), ("stage", "overdue stage")):
        if card["segments"].get(column):
            lines.append(_segment_line(title, card["segments"][column]))
    lines.append(
        "  most important (loss of ROC AUC when shuffled): "
        + ", ".join(f"{name} {value:.3f}" for name, value in top)
    )
    lines.append(f"  {card['verdict']}")
    return lines


# ---- the page --------------------------------------------------------------------------------

_W, _H = 360, 300  # a square plot and its margins
_L, _T, _P = 48, 14, 240  # left margin, top margin, plot side


def _e(value: object) -> str:
    return html.escape(str(value), quote=True)


def _svg(width: int, height: int, caption: str, body: Iterable[str]) -> str:
    # No xmlns: inline SVG in HTML needs none, and the page then holds no URL at all.
    return (
        f'<svg viewBox="0 0 {width} {height}" width="{width}" height="{height}" role="img" '
        f'aria-label="{_e(caption)}"><title>{_e(caption)}</title>' + "".join(body) + "</svg>"
    )


def _xy(x: float, y: float) -> str:
    return f"{_L + x * _P:.1f},{_T + (1 - y) * _P:.1f}"


def line_chart(
    lines: Sequence[tuple[str, str, Sequence[Sequence[float]]]],
    caption: str,
    x_label: str,
    y_label: str,
    diagonal: bool = True,
    top: float = 1.0,
) -> str:
    """Lines on a square, both axes from 0 to ``top``: (label, CSS class, [(x, y), ...])."""
    parts = [
        f'<rect x="{_L}" y="{_T}" width="{_P}" height="{_P}" class="frame"/>',
        f'<text x="{_L + _P / 2}" y="{_T + _P + 32}" text-anchor="middle">{_e(x_label)}</text>',
        f'<text x="12" y="{_T + _P / 2}" text-anchor="middle" '
        f'transform="rotate(-90 12 {_T + _P / 2})">{_e(y_label)}</text>',
    ]
    for q in (0.0, 0.5, 1.0):
        parts.append(
            f'<text x="{_L + q * _P:.1f}" y="{_T + _P + 14}" text-anchor="middle">'
            f"{q * top:.2g}</text>"
            f'<text x="{_L - 4}" y="{_T + (1 - q) * _P + 4:.1f}" text-anchor="end">'
            f"{q * top:.2g}</text>"
        )
    if diagonal:
        parts.append(f'<polyline points="{_xy(0, 0)} {_xy(1, 1)}" class="diag"/>')
    for i, (label, css, points) in enumerate(lines):
        path = " ".join(_xy(min(float(x) / top, 1.0), min(float(y) / top, 1.0)) for x, y in points)
        parts.append(f'<polyline points="{path}" class="{_e(css)}"><title>{_e(label)}</title>')
        parts.append("</polyline>")
        y = _T + 8 + 16 * i
        parts.append(
            f'<line x1="{_L + _P + 10}" y1="{y}" x2="{_L + _P + 28}" y2="{y}" class="{_e(css)}"/>'
            f'<text x="{_L + _P + 32}" y="{y + 4}">{_e(label)}</text>'
        )
    return _svg(_W + 60, _H, caption, parts)


def bars(
    rows: Sequence[tuple[str, Sequence[float]]], caption: str, unit: str = "", width: int = 720
) -> str:
    """Horizontal bars, a model and a baseline bar per row, scaled to the largest value."""
    label_w, bar_w, row_h = 220, width - 320, 30
    peak = max((max(v) for _, v in rows if v), default=0.0) or 1.0
    parts = []
    for i, (label, values) in enumerate(rows):
        y = 6 + i * row_h
        parts.append(f'<text x="{label_w - 8}" y="{y + 16}" text-anchor="end">{_e(label)}</text>')
        for k, ((_, css), value) in enumerate(zip(SERIES, values, strict=False)):
            w = max(float(value), 0.0) / peak * bar_w
            parts.append(
                f'<rect x="{label_w}" y="{y + 3 + k * 12}" width="{w:.1f}" height="10" '
                f'class="{css}"/><text x="{label_w + w + 4:.1f}" y="{y + 12 + k * 12}" '
                f'class="small">{value:.3f}{_e(unit)}</text>'
            )
    return _svg(width, 12 + len(rows) * row_h, caption, parts)


def _table(headers: Sequence[str], rows: Iterable[Sequence[object]]) -> str:
    head = "".join(f"<th>{_e(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{_e(v)}</td>" for v in r) + "</tr>" for r in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _f(value: Any, digits: int = 3) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def _headline(card: dict[str, Any]) -> str:
    m, b = card["metrics"]["model"], card["metrics"]["baseline"]
    cal = card["calibration"]
    rows = [
        ("ROC AUC", _f(m["roc_auc"]), _f(b["roc_auc"]), "ranking: 0.5 is chance, 1 perfect"),
        ("PR AUC", _f(m["pr_auc"]), _f(b["pr_auc"]), f"chance: {m['positive_rate']:.3f}"),
        ("Brier", _f(m["brier"], 4), _f(b["brier"], 4), "lower is better"),
        ("KS", _f(m["ks"]), _f(b["ks"]), "largest gap between payers and the others"),
        ("calibration error", _f(cal["model"]["ece"]), _f(cal["baseline"]["ece"]), "lower"),
        (
            "top-decile lift",
            _f(m["deciles"][0]["lift"], 2),
            _f(b["deciles"][0]["lift"], 2),
            "pay rate of the best tenth over the overall rate",
        ),
        ("mean p", _f(m["mean_p"]), _f(b["mean_p"]), f"observed rate {m['positive_rate']:.3f}"),
    ]
    return _table(("figure", "model", "baseline", "reading"), rows)


def _deciles(card: dict[str, Any]) -> str:
    out = []
    for name, _ in SERIES:
        rows = [
            (
                d["decile"],
                f"{d['rows']:,}",
                f"{d['payers']:,}",
                _pct(d["observed_rate"]),
                _pct(d["mean_p"]),
                f"{d['lift']:.2f}",
                _pct(d["capture"]),
            )
            for d in card["metrics"][name]["deciles"]
        ]
        out.append(
            f"<h3>{_e(name)}</h3>"
            + _table(
                ("decile", "cases", "payers", "pay rate", "mean p", "lift", "cum. capture"), rows
            )
        )
    return "".join(out)


def _segments(card: dict[str, Any]) -> str:
    out = []
    for column, title in (("product", "product"), ("stage", "overdue stage")):
        rows = card["segments"].get(column, [])
        if not rows:
            continue
        chart_rows = [
            (
                f"{r['value']} ({r['rows']:,})",
                [r["model_roc_auc"] or 0.0, r["baseline_roc_auc"] or 0.0],
            )
            for r in rows
        ]
        table = _table(
            (title, "cases", "payers", "pay rate", "model ROC AUC", "baseline ROC AUC"),
            (
                (
                    r["value"],
                    f"{r['rows']:,}",
                    f"{r['payers']:,}",
                    _pct(r["positive_rate"]),
                    _f(r["model_roc_auc"]),
                    _f(r["baseline_roc_auc"]),
                )
                for r in rows
            ),
        )
        out.append(
            f"<h3>by {_e(title)}</h3>"
            + bars(chart_rows, f"ROC AUC by {title}, model and baseline")
            + table
        )
    return "".join(out) or "<p>No segments.</p>"


def _importance(card: dict[str, Any]) -> str:
    block = card["permutation_importance"]
    model, base = block["model"], block["baseline"]
    names = sorted(model, key=lambda n: (-model[n], n))
    rows = [(n, [model[n], base.get(n, 0.0)]) for n in names]
    return (
        f"<p>{_e(block['scoring'])}; {block['repeats']} shuffles of {block['rows']:,} hold-out "
        "rows. A value near 0 means the score barely uses the column; a negative one, that "
        "shuffling it helped by chance.</p>" + bars(rows, "permutation importance")
    )


def _legend() -> str:
    return (
        '<p class="legend"><span class="key s-model"></span> model '
        '<span class="key s-base"></span> logistic baseline</p>'
    )


_CSS = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI","PingFang SC","Microsoft YaHei",sans-serif;
margin:0 auto;max-width:1000px;padding:16px 24px;color:#222;background:#fff}
h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:28px 0 8px;border-bottom:1px solid #ddd}
h3{font-size:15px;margin:16px 0 4px}.meta{color:#555;margin:0}
.banner{border-radius:6px;padding:10px 14px;margin:14px 0;background:#eef4fb;
border:1px solid #9bb8d8}
table{border-collapse:collapse;margin:8px 0}th,td{padding:3px 10px;border-bottom:1px solid #eee;
text-align:left;font-variant-numeric:tabular-nums}
svg{display:block;max-width:100%;height:auto;font-size:12px}svg text{fill:#333}
.small{font-size:10px}.frame{fill:none;stroke:#bbb}.diag{fill:none;stroke:#bbb;
stroke-dasharray:4 3}polyline.s-model,line.s-model{fill:none;stroke:#2f5f8f;stroke-width:2}
polyline.s-base,line.s-base{fill:none;stroke:#e08a2c;stroke-width:2}
rect.s-model{fill:#2f5f8f}rect.s-base{fill:#e08a2c}
.plots{display:flex;flex-wrap:wrap;gap:12px}
.key{display:inline-block;width:14px;height:10px}.key.s-model{background:#2f5f8f}
.key.s-base{background:#e08a2c}
"""


def render_html(card: dict[str, Any]) -> str:
    """card.html: one self-contained page (inline CSS and SVG, no script, no link)."""
    data, label, check = card["data"], card["label"], card["validation"]
    window = data["window"]
    curves, cal = card["curves"], card["calibration"]
    roc = [(n, css, curves[n]["roc"]) for n, css in SERIES]
    pr = [(n, css, curves[n]["pr"]) for n, css in SERIES]
    top = max(max(b["observed_rate"] for b in cal[n]["bins"]) for n, _ in SERIES)
    top = max(top, max(b["mean_p"] for n, _ in SERIES for b in cal[n]["bins"]))
    scale = min(1.0, max(0.05, round(top * 1.15 + 0.005, 2)))
    calibration = [
        (n, css, [(b["mean_p"], b["observed_rate"]) for b in cal[n]["bins"]]) for n, css in SERIES
    ]
    meta = (
        f"trained {card['created_at']} · model file sha256 {card.get('sha256', '')[:16]}… · "
        f"seed {card['seed']}"
    )
    features = _table(
        ("feature", "kind", "monotonic"),
        (
            (
                f["name"],
                f["kind"],
                {1: "never lowers p", -1: "never raises p"}.get(f["monotonic"], ""),
            )
            for f in card["features"]
        ),
    )
    libraries = ", ".join(f"{k} {v}" for k, v in card["libraries"].items())
    sections = [
        f"<header><h1>Model card {_e(card['version'])}</h1><p class=meta>{_e(meta)}</p></header>",
        f'<div class="banner" id="verdict">{_e(card["verdict"])}</div>',
        "<section id=task><h2>What it predicts</h2>"
        f"<p>{_e(card['task'])}: {_e(label['definition'])} (horizon {label['horizon_days']} days, "
        f"minimum payment {label['min_payment']:g} yuan).</p>"
        f"<p>Trained on {data['rows']:,} case-nights of the nights {_e(window['first_night'])} "
        f"to {_e(window['last_night'])} ({len(data['nights'])} nights, outcomes known by "
        f"{_e(window['known_by'])}), {data['payers']:,} payers "
        f"({_pct(data['positive_rate'])}); training data sha256 <code>{_e(data['sha256'])}"
        "</code>.</p>"
        f"<p>Judged {_e(check['method'])}. Held-out nights "
        f"{_e(', '.join(check['nights']))}: {check['rows']:,} case-nights, {check['payers']:,} "
        f"payers; the recipe was trained on {check['training_rows']:,} case-nights of "
        f"{_e(check['training_nights'][0])} to {_e(check['training_nights'][-1])}.</p></section>",
        "<section id=figures><h2>On the hold-out</h2>" + _headline(card) + "</section>",
        "<section id=curves><h2>Ranking and calibration</h2>"
        + _legend()
        + '<div class="plots">'
        + line_chart(roc, "ROC curve", "false positive rate", "true positive rate")
        + line_chart(pr, "precision-recall curve", "recall", "precision", diagonal=False)
        + line_chart(
            calibration,
            "calibration: observed pay rate against predicted, ten equal groups",
            "mean predicted probability",
            "observed pay rate",
            top=scale,
        )
        + "</div></section>",
        "<section id=deciles><h2>Deciles (best first)</h2>" + _deciles(card) + "</section>",
        "<section id=segments><h2>ROC AUC per segment</h2>"
        + _legend()
        + _segments(card)
        + "</section>",
        "<section id=importance><h2>Permutation importance</h2>"
        + _legend()
        + _importance(card)
        + "</section>",
        f"<section id=reasons><h2>Reasons per case</h2><p>{_e(card['reasons'])}</p></section>",
        "<section id=features><h2>Features</h2>" + features + "</section>",
        "<section id=details><h2>Estimators</h2>"
        f"<p>{_e(card['estimator']['type'])}, {_e(card['estimator']['calibration'])}; "
        f"parameters <code>{_e(card['estimator']['params'])}</code>.</p>"
        f"<p>Baseline: {_e(card['baseline']['type'])}.</p><p>{_e(libraries)}.</p></section>",
    ]
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>caseflow model {_e(card['version'])}</title><style>{_CSS}</style></head>"
        f"<body>{''.join(sections)}<footer><p class=meta>Written by caseflow train from "
        "card.json; self-contained, opens offline.</p></footer></body></html>\n"
    )
