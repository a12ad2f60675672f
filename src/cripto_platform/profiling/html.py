"""Self-contained HTML pages of profiles: inline CSS and SVG charts, no scripts, nothing fetched."""

from __future__ import annotations

from html import escape
from typing import Any

_STYLE = """
body{font:14px/1.4 system-ui,sans-serif;margin:1.5em;color:#222}
table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #ccc;padding:2px 6px;text-align:left;vertical-align:top}
th{background:#f3f3f3}.num{text-align:right}.fail{color:#b00020;font-weight:600}.warn{color:#a15c00}.ok{color:#176b2c}
section{border-top:1px solid #ddd;margin-top:1em;padding-top:.5em}h2{font-size:1.2em}h3{font-size:1.05em;margin:.3em 0}
.cols{display:flex;gap:2em;flex-wrap:wrap}small{color:#666}
"""


def _fmt(value: Any) -> str:
    if value is None:
        return "–"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.6g}"
    if isinstance(value, int):
        return f"{value:,}"
    return escape(str(value))


def _rows(pairs: list[tuple[str, Any]]) -> str:
    return "<table>" + "".join(f"<tr><th>{escape(k)}</th><td class=num>{_fmt(v)}</td></tr>" for k, v in pairs) + "</table>"


def bar_chart(counts: list[int], labels: list[str], width: int = 360, height: int = 120, title: str = "") -> str:
    """An inline SVG bar chart (one bar per count), with first/last labels and a tooltip per bar."""
    if not counts:
        return "<small>no values</small>"
    top = max(max(counts), 1)
    bar = width / len(counts)
    bars = []
    for i, count in enumerate(counts):
        h = (height - 20) * count / top
        label = escape(labels[i]) if i < len(labels) else ""
        bars.append(f'<rect x="{i * bar:.2f}" y="{height - 20 - h:.2f}" width="{max(bar - 1, 1):.2f}" '
                    f'height="{h:.2f}" fill="#4a78b5"><title>{label}: {count:,}</title></rect>')
    first = escape(labels[0]) if labels else ""
    last = escape(labels[-1]) if labels else ""
    return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" role="img" '
            f'aria-label="{escape(title)}">{"".join(bars)}'
            f'<text x="0" y="{height - 5}" font-size="10">{first}</text>'
            f'<text x="{width}" y="{height - 5}" font-size="10" text-anchor="end">{last}</text></svg>')


def _histogram(histogram: dict) -> str:
    edges, counts = histogram["edges"], histogram["counts"]
    labels = [f"{_plain(edges[i])} – {_plain(edges[i + 1])}" for i in range(len(counts))] if len(edges) > len(counts) else []
    note = "" if histogram["exact"] else "<br><small>approximate (scaled from a sample)</small>"
    return bar_chart(counts, labels, title="histogram") + note


def _share(value: float | None) -> str:
    return "–" if value is None else f"{value:.2%}"


def _plain(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def _column(column: dict) -> str:
    pairs = [("kind", column["kind"]), ("type", column["physical_type"]), ("count", column["count"]),
             ("missing", column["missing"]), ("missing share", f"{column['missing_share']:.2%}"),
             ("distinct", column["distinct"] if column["distinct_exact"] else f"≈{column['distinct']:,}")]
    chart = ""
    if column["numeric"]:
        n = column["numeric"]
        pairs += [("min", n["min"]), ("max", n["max"]), ("mean", n["mean"]), ("std", n["std"]),
                  *[(k, v) for k, v in n["quantiles"].items()], ("zeros", n["zeros"]), ("negatives", n["negatives"])]
        chart = _histogram(n["histogram"])
    elif column["temporal"]:
        t = column["temporal"]
        pairs += [("min", t["min"]), ("max", t["max"]), ("timezone", t["timezone"])]
        chart = _histogram(t["histogram"])
    elif column["text"]:
        t = column["text"]
        pairs += [("empty", t["empty"]), *[(f"length {k}", v) for k, v in t["length"].items()]]
        top = t["top_values"]
        chart = "<table><tr><th>top value</th><th>count</th></tr>" + "".join(
            f"<tr><td>{escape(str(item['value']))}</td><td class=num>{item['count']:,}</td></tr>" for item in top
        ) + "</table>" + ("" if t["top_values_exact"] else
                          f"<small>counts may be under by up to {t['top_values_max_undercount']:,}</small>")
    elif column["boolean"]:
        b = column["boolean"]
        pairs += [("true", b["true"]), ("false", b["false"])]
        chart = bar_chart([b["true"], b["false"]], ["true", "false"], width=120, title="true/false")
    return (f'<section id="col-{escape(column["name"])}"><h3>{escape(column["name"])}</h3>'
            f'<div class=cols><div>{_rows(pairs)}</div><div>{chart}</div></div></section>')


def _rules(rules: list[dict] | None) -> str:
    if rules is None:
        return "<p><small>no quality rules registered for this dataset</small></p>"
    body = "".join(
        f"<tr><td>{escape(r['rule'])}</td><td>{escape(str(r['column'] or '(table)'))}</td><td>{r['severity']}</td>"
        f"<td class={'ok' if r['passed'] else ('fail' if r['severity'] == 'error' else 'warn')}>"
        f"{'passed' if r['passed'] else 'failed'}</td><td class=num>{r['failed_rows']:,}</td>"
        f"<td>{escape(', '.join(map(str, r['examples'])))}</td></tr>" for r in rules)
    return ("<table><tr><th>rule</th><th>column</th><th>severity</th><th>result</th><th>failed rows</th>"
            f"<th>examples</th></tr>{body}</table>")


def _drift(drift: dict) -> str:
    if not drift["compared"]:
        return "<p><small>no previous profile to compare with</small></p>"
    rows = "".join(
        f"<tr><td class={'fail' if c['flagged'] else 'ok'}>{'flagged' if c['flagged'] else 'ok'}</td>"
        f"<td>{escape(c['kind'])}</td><td>{escape(str(c['column'] or '(table)'))}</td><td>{_fmt(c['previous'])}</td>"
        f"<td>{_fmt(c['current'])}</td><td>{_fmt(c['change'])}</td><td>{_fmt(c['threshold'])}</td></tr>"
        for c in sorted(drift["checks"], key=lambda c: not c["flagged"]))
    return (f"<p>against version {escape(str(drift['previous_version']))}: {drift['flags']} flag(s)</p>"
            "<table><tr><th></th><th>check</th><th>column</th><th>previous</th><th>current</th><th>change</th>"
            f"<th>threshold</th></tr>{rows}</table>")


def _correlations(correlations: dict) -> str:
    names = correlations["columns"]
    if len(names) < 2:
        return "<p><small>fewer than two numeric columns</small></p>"

    def matrix(values: list[list[float | None]]) -> str:
        head = "".join(f"<th>{escape(n)}</th>" for n in names)
        body = ""
        for name, row in zip(names, values, strict=True):
            cells = ""
            for v in row:
                shade = "" if v is None else f' style="background:rgba({"74,120,181" if v >= 0 else "181,74,74"},{abs(v):.2f})"'
                cells += f"<td class=num{shade}>{_fmt(v)}</td>"
            body += f"<tr><th>{escape(name)}</th>{cells}</tr>"
        return f"<table><tr><th></th>{head}</tr>{body}</table>"

    html = "<h3>Pearson</h3>" + matrix(correlations["pearson"])
    if correlations["spearman"] is not None:
        note = "" if correlations["spearman_exact"] else " <small>(on a sample)</small>"
        html += f"<h3>Spearman{note}</h3>" + matrix(correlations["spearman"])
    return html


def _page(title: str, body: str) -> str:
    return (f"<!DOCTYPE html><html lang=en><head><meta charset=utf-8><title>{escape(title)}</title>"
            f"<style>{_STYLE}</style></head><body>{body}</body></html>")


def table_page(profile: dict) -> str:
    """One table's profile as a self-contained page."""
    name = profile["table"]
    head = (f"<p><a href=index.html>all tables</a></p><h1>{escape(name)}</h1>"
            f"<p>{escape(profile['source']['kind'])} <code>{escape(str(profile['source']['location']))}</code>"
            f" version {escape(str(profile['source']['version']))} · profiled {escape(profile['profiled_at'])}"
            f" · status <b>{escape(profile['status'])}</b></p>")
    if profile["status"] != "profiled":
        return _page(name, head + f"<p>{escape(profile.get('message') or '')}</p>")
    s = profile["table_stats"]
    stats = _rows([("rows", s["rows"]), ("columns", s["columns"]),
                   ("duplicate rows", s["duplicate_rows"] if s["duplicate_rows_exact"] else f"≈{s['duplicate_rows']:,}"),
                   ("size on disk (bytes)", s["size_on_disk_bytes"]), ("size in memory (bytes)", s["size_in_memory_bytes"]),
                   ("profile seconds", profile["duration_seconds"])])
    notes = "".join(f"<li>{escape(a['figure'])}: {escape(a['method'])}; {escape(a['bound'])}</li>"
                    for a in profile["approximations"])
    body = (head + "<h2>Table</h2>" + stats + "<h2>Quality rules</h2>" + _rules(profile["rules"])
            + "<h2>Drift</h2>" + _drift(profile["drift"]) + "<h2>Correlations</h2>"
            + _correlations(profile["correlations"]) + "<h2>Columns</h2>"
            + "".join(_column(c) for c in profile["columns"])
            + (f"<h2>Approximations</h2><ul>{notes}</ul>" if notes else ""))
    return _page(name, body)


def index_page(summary: list[dict], version: str) -> str:
    """Every table of one profiling run, a summary row each, linking its page."""
    head = ("<tr><th>table</th><th>status</th><th>source</th><th>version</th><th>rows</th><th>columns</th>"
            "<th>missing share</th><th>rule failures</th><th>drift flags</th></tr>")
    rows = "".join(
        f"<tr><td><a href=\"{escape(r['table'])}.html\">{escape(r['table'])}</a></td><td>{escape(r['status'])}</td>"
        f"<td>{escape(r['source_kind'])}</td><td>{_fmt(r['source_version'])}</td><td class=num>{_fmt(r['rows'])}</td>"
        f"<td class=num>{_fmt(r['columns'])}</td><td class=num>{_share(r['missing_share'])}</td>"
        f"<td class=\"num {'fail' if r['rule_failures'] else ''}\">{_fmt(r['rule_failures'])}</td>"
        f"<td class=\"num {'fail' if r['drift_flags'] else ''}\">{_fmt(r['drift_flags'])}</td></tr>"
        for r in summary)
    return _page("profiling " + version, f"<h1>Profiles, run {escape(version)}</h1><table>{head}{rows}</table>")
