"""The report as one HTML page that needs nothing else: inline CSS, inline SVG, no script.

Its Content-Security-Policy allows no request at all (`default-src 'none'`), so opening it
fetches nothing, whatever the records hold. Every text that comes from records (URLs, error
types, skip reasons, file names) is escaped; a URL is a link only when it is http(s).
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterable, Sequence
from html import escape

from .._version import __version__
from .aggregate import Aggregate, HostStats, Page
from .redirects import Chain, Redirects
from .svg import bar_chart, duration

__all__ = ["render"]

HOSTS_SHOWN = 25
_DASH = "\u2014"

_CSS = """
:root { --ink: #1d2430; --muted: #5b6677; --line: #d9dee7; --bar: #3b6fd8; --bad: #c0392b;
        --card: #f5f7fa; }
* { box-sizing: border-box; }
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif;
       color: var(--ink); margin: 0 auto; padding: 24px 32px 48px; max-width: 1200px; }
h1 { font-size: 24px; margin: 0 0 4px; }
h2 { font-size: 18px; margin: 32px 0 8px; padding-bottom: 4px;
     border-bottom: 1px solid var(--line); }
h3 { font-size: 15px; margin: 16px 0 6px; }
p.meta, p.note { color: var(--muted); margin: 4px 0; }
.cards { display: grid; grid-template-columns: repeat(auto-fill, minmax(150px, 1fr)); gap: 10px;
         margin-top: 12px; }
.card { background: var(--card); border-radius: 6px; padding: 10px 12px; }
.card .value { font-size: 20px; font-weight: 600; }
.card .label { color: var(--muted); font-size: 12px; }
.card.bad .value { color: var(--bad); }
.columns { display: grid; grid-template-columns: repeat(auto-fit, minmax(280px, 1fr)); gap: 24px; }
table { border-collapse: collapse; width: 100%; margin: 4px 0; }
th, td { text-align: left; padding: 4px 8px; border-bottom: 1px solid var(--line);
         vertical-align: top; }
th { font-weight: 600; color: var(--muted); font-size: 12px; }
td.n, th.n { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
td.url { word-break: break-all; }
tr.other td { color: var(--muted); font-style: italic; }
a { color: #2456b8; }
.chart { width: 100%; height: auto; max-width: 900px; }
.chart .bar { fill: var(--bar); }
.chart .grid { stroke: #eceff4; }
.chart .axis, .chart .tick { stroke: #8a94a6; }
.chart text { font-size: 11px; fill: var(--muted); }
.chart text.y { text-anchor: end; }
.chart text.x { text-anchor: middle; }
ol.chain { margin: 2px 0 10px; padding-left: 20px; word-break: break-all; }
.status { color: var(--muted); font-variant-numeric: tabular-nums; }
.loop { color: var(--bad); font-weight: 600; }
"""


def render(
    data: Aggregate,
    redirects: Redirects,
    *,
    sources: Sequence[str],
    bad_lines: int,
) -> str:
    """The whole page."""
    sections = [
        _header(data, sources, bad_lines),
        _totals(data),
        _statuses(data),
        _over_time(data),
        _latency(data),
        _hosts(data),
        _broken(data),
        _redirects(redirects),
        _pages("Slowest pages", data.slowest.largest(), "by the time of their last attempt"),
        _pages("Largest pages", data.largest.largest(), "by their body's size, decoded"),
        _skips(data),
    ]
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">\n'
        '<meta http-equiv="Content-Security-Policy" content="default-src \'none\'; '
        "style-src 'unsafe-inline'\">\n"
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        "<title>corocrawl report</title>\n"
        f"<style>{_CSS}</style></head>\n<body>\n" + "\n".join(sections) + "\n</body></html>\n"
    )


def _header(data: Aggregate, sources: Sequence[str], bad_lines: int) -> str:
    kind = "crawl" if data.crawl_records else "fetch"
    if data.crawl_records and data.crawl_records < data.records:
        kind = "crawl and fetch"
    names = ", ".join(f"<code>{escape(name)}</code>" for name in sources)
    made = time.strftime("%Y-%m-%d %H:%M:%S %Z", time.localtime())
    bad = f"; {_count(bad_lines, 'bad line')} skipped" if bad_lines else ""
    return (
        "<header><h1>corocrawl report</h1>"
        f'<p class="meta">{data.records:,} {kind} records from {names}{bad}.</p>'
        f'<p class="meta">Made by corocrawl {escape(__version__)} on {escape(made)}.</p>'
        "</header>"
    )


def _totals(data: Aggregate) -> str:
    span = data.span
    rate = data.pages_per_second
    cards = [
        ("records", f"{data.records:,}", ""),
        ("fetched (a response)", f"{data.fetched:,}", ""),
        ("HTTP errors (4xx, 5xx)", f"{data.http_errors:,}", "bad" if data.http_errors else ""),
        ("failed (no response)", f"{data.failed:,}", "bad" if data.failed else ""),
        ("skipped", f"{data.skipped:,}", ""),
        ("bytes (decoded)", _bytes(data.size), ""),
        ("time span", _DASH if span is None else duration(span), ""),
        ("pages/s overall", _DASH if rate is None else f"{rate:,.1f}", ""),
    ]
    html = ['<section id="totals"><h2>Totals</h2><div class="cards">']
    for label, value, css in cards:
        html.append(f'<div class="card {css}"><div class="value">{escape(value)}</div>'
                    f'<div class="label">{escape(label)}</div></div>')  # fmt: skip
    html.append("</div>")
    if data.first_at is not None and data.last_at is not None:
        first, last = _moment(data.first_at), _moment(data.last_at)
        html.append(
            f'<p class="note">From {first} to {last}: the first and last records fetched; '
            f"pages/s counts the {data.timed:,} records that say when.</p>"
        )
    else:
        html.append(
            '<p class="note">No record says when it was fetched (those written before '
            "fetched_at was recorded), so there is no time span or rate.</p>"
        )
    html.append("</section>")
    return "".join(html)


def _statuses(data: Aggregate) -> str:
    classes = _table(("class", "records"), data.status_classes().items())
    codes_rows: list[tuple[object, ...]] = [(code, n) for code, n in data.statuses.most_common()]
    if data.statuses.other:
        codes_rows.append(("other codes", data.statuses.other))
    codes = _table(("status", "records"), codes_rows)
    error_rows: list[tuple[object, ...]] = [(name, n) for name, n in data.errors.most_common()]
    if data.errors.other:
        error_rows.append(("other errors", data.errors.other))
    errors = _table(("error", "records"), error_rows) if error_rows else _empty("No failures.")
    return (
        '<section id="status"><h2>Status and errors</h2><div class="columns">'
        f"<div><h3>By class</h3>{classes}</div><div><h3>By status</h3>{codes}</div>"
        f"<div><h3>Failures by error</h3>{errors}</div></div></section>"
    )


def _over_time(data: Aggregate) -> str:
    width, bars = data.per_second.bars()
    if not bars:
        chart = _empty("No record says when it was fetched: no chart over time.")
    else:
        origin = bars[0][0]
        length = len(bars) * width
        chart = bar_chart(
            [(count / width, f"{duration(start - origin)}: {count:,} records, "
              f"{count / width:,.1f} pages/s") for start, count in bars],
            x_ticks=_time_ticks(length),
            title="pages per second over time",
            unit=f"pages/s (bars of {duration(width)})",
        )  # fmt: skip
    return f'<section id="over-time"><h2>Pages/s over time</h2>{chart}</section>'


def _time_ticks(length: float) -> list[tuple[float, str]]:
    steps = [
        0.01,
        0.02,
        0.05,
        0.1,
        0.2,
        0.5,
        1,
        2,
        5,
        10,
        15,
        30,
        60,
        120,
        300,
        600,
        900,
        1800,
        3600,
        7200,
        21600,
        43200,
        86400,
    ]
    step = next((s for s in steps if length / s <= 8), length / 8)
    ticks = []
    moment = 0.0
    while moment <= length * 1.0001:
        ticks.append((moment / length, duration(moment) if moment else "0"))
        moment += step
    return ticks


def _latency(data: Aggregate) -> str:
    buckets = data.latency.coarse(per_decade=5)
    if not buckets:
        return ('<section id="latency"><h2>Latency</h2>'
                f"{_empty('No response to time.')}</section>")  # fmt: skip
    decades = []
    for index, (low, _, _) in enumerate(buckets):
        exponent = round(5 * math.log10(low))
        if exponent % 5 == 0:
            decades.append((index / len(buckets), duration(low)))
    chart = bar_chart(
        [(count, f"{duration(low)} to {duration(high)}: {count:,} responses")
         for low, high, count in buckets],
        x_ticks=decades,
        title="latency histogram, log scale",
        unit="responses",
    )  # fmt: skip
    quantiles = ", ".join(
        f"p{round(q * 100)} {duration(value)}"
        for q in (0.5, 0.9, 0.99)
        if (value := data.latency.quantile(q)) is not None
    )
    return (
        '<section id="latency"><h2>Latency</h2>'
        f'<p class="note">{data.latency.total:,} responses, by the time of their last attempt '
        f"(log-scale buckets, 5 a decade): {escape(quantiles)}.</p>{chart}</section>"
    )


def _hosts(data: Aggregate) -> str:
    ranked = sorted(data.hosts.items(), key=lambda item: (-item[1].pages, item[0]))
    shown, rest = ranked[:HOSTS_SHOWN], ranked[HOSTS_SHOWN:]
    other = HostStats()
    for _, stats in rest:
        other.merge(stats)
    other.merge(data.other_hosts)
    rows = [_host_row(escape(host), stats) for host, stats in shown]
    if other.pages:
        hosts = f"{len(rest):,} other hosts"
        if data.other_hosts.pages:
            hosts += f", and hosts past the first {data.HOSTS:,}"
        rows.append(_host_row(escape(hosts), other, css="other"))
    head = _head(("host", "pages", "errors", "median latency", "bytes"), numeric_from=1)
    table = f"<table>{head}{''.join(rows)}</table>" if rows else _empty("No page fetched.")
    known = len(data.hosts)
    hosts = f"{known:,} hosts" if known != 1 else "1 host"
    if data.other_hosts.pages:
        hosts = f"More than {known:,} hosts"
    note = (f'<p class="note">{hosts}; those with the most pages fetched first (skipped '
            "records left out). Medians from log-scale buckets (within 6%).</p>")  # fmt: skip
    return f'<section id="hosts"><h2>Hosts</h2>{note}{table}</section>'


def _host_row(host: str, stats: HostStats, css: str = "") -> str:
    median = stats.latency.quantile(0.5)
    return (
        f'<tr class="{css}"><td>{host}</td><td class="n">{stats.pages:,}</td>'
        f'<td class="n">{stats.errors:,}</td>'
        f'<td class="n">{_DASH if median is None else duration(median)}</td>'
        f'<td class="n">{_bytes(stats.size)}</td></tr>'
    )


def _broken(data: Aggregate) -> str:
    if not data.broken_total:
        return f'<section id="broken"><h2>Broken links</h2>{_empty("None.")}</section>'
    rows = "".join(
        f'<tr><td class="url">{_link(link.url)}</td><td>{escape(link.outcome)}</td>'
        f'<td class="url">{_DASH if link.found_on is None else _link(link.found_on)}</td></tr>'
        for link in data.broken
    )
    more = data.broken_total - len(data.broken)
    note = f"{_count(data.broken_total, 'URL')} answered 4xx or 5xx, or not at all"
    if more:
        note += f"; the first {len(data.broken):,} are listed, {more:,} more are not"
    return (
        f'<section id="broken"><h2>Broken links</h2><p class="note">{note}.</p>'
        f"<table>{_head(('URL', 'status or error', 'found on'))}{rows}</table></section>"
    )


def _redirects(summary: Redirects) -> str:
    lines = [
        f"{_count(summary.recorded, 'redirect')} recorded by a crawl, "
        f"{_count(summary.fetch_followed, 'fetch', 'fetches')} that followed redirects; "
        f"{_count(summary.chains, 'chain')}, {_count(summary.loops, 'loop')}."
    ]
    if summary.without_target:
        said = _count(summary.without_target, "redirect response")
        lines.append(f"{said} named no target.")
    if summary.not_followed:
        followed = summary.recorded - summary.not_followed
        lines.append(
            f"Chains are followed over the first {followed:,} redirects; "
            f"{summary.not_followed:,} more are counted only."
        )
    html = ['<section id="redirects"><h2>Redirects</h2>']
    html += [f'<p class="note">{escape(line)}</p>' for line in lines]
    if summary.hops:
        rows = ((hops, number) for hops, number in summary.hops.items())
        html.append(f"<h3>Chains by hops</h3>{_table(('hops', 'chains'), rows)}")
    if summary.loops:
        html.append(f"<h3>Loops ({summary.loops:,})</h3>")
        html += [_chain(chain) for chain in summary.loop_examples]
        if summary.loops > len(summary.loop_examples):
            html.append(f'<p class="note">{summary.loops - len(summary.loop_examples):,} more '
                        "loops are not shown.</p>")  # fmt: skip
    if summary.longest:
        html.append("<h3>Longest chains</h3>")
        html += [_chain(chain) for chain in summary.longest]
    html.append("</section>")
    return "".join(html)


def _chain(chain: Chain) -> str:
    if chain.fetch_hops:
        first, final = chain.urls
        said = f"{chain.hops} redirects followed by the fetch \u2192"
        items = [_hop(first, said), _hop(final, chain.end or "")]
    else:
        hops = zip(chain.urls, chain.statuses, strict=False)  # the last URL has no status
        items = [_hop(url, f"{status} \u2192") for url, status in hops]
        last = chain.urls[-1]
        if chain.loop:
            items.append(_hop(last, "back again: a loop", css="loop"))
        elif chain.cut:
            items.append(_hop(last, f"and on: cut after {chain.hops} hops"))
        else:
            items.append(_hop(last, chain.end or "no record after the redirect"))
    return f'<ol class="chain">{"".join(items)}</ol>'


def _hop(url: str, said: str, css: str = "status") -> str:
    return f'<li>{_link(url)} <span class="{css}">{escape(said)}</span></li>'


def _pages(title: str, pages: list[tuple[float, Page]], how: str) -> str:
    anchor = title.lower().replace(" ", "-")
    if not pages:
        return f'<section id="{anchor}"><h2>{title}</h2>{_empty("None.")}</section>'
    rows = "".join(
        f'<tr><td class="url">{_link(page.url)}</td><td>{escape(page.outcome)}</td>'
        f'<td class="n">{_DASH if page.elapsed is None else duration(page.elapsed)}</td>'
        f'<td class="n">{_bytes(page.size)}</td></tr>'
        for _, page in pages
    )
    head = _head(("URL", "status or error", "time", "bytes"), numeric_from=2)
    return (f'<section id="{anchor}"><h2>{title}</h2><p class="note">The {len(pages)} '
            f"{title.lower()}, {how}.</p><table>{head}{rows}</table></section>")  # fmt: skip


def _skips(data: Aggregate) -> str:
    rows: list[tuple[object, ...]] = [(reason, n) for reason, n in data.skips.most_common()]
    if data.skips.other:
        rows.append(("other reasons", data.skips.other))
    body = _table(("reason", "records"), rows) if rows else _empty("Nothing was skipped.")
    return f'<section id="skips"><h2>Skip reasons</h2>{body}</section>'


def _table(columns: tuple[str, str], rows: Iterable[tuple[object, ...]]) -> str:
    body = "".join(
        f'<tr><td>{escape(str(name))}</td><td class="n">{number:,}</td></tr>'
        for name, number in rows
    )
    return f"<table>{_head(columns, numeric_from=1)}{body}</table>"


def _head(columns: Sequence[str], *, numeric_from: int | None = None) -> str:
    cells = "".join(
        f'<th class="{"n" if numeric_from is not None and i >= numeric_from else ""}">'
        f"{escape(name)}</th>"
        for i, name in enumerate(columns)
    )
    return f"<tr>{cells}</tr>"


def _link(url: str) -> str:
    """A URL from a record: a link when it is http(s), text otherwise (no javascript:)."""
    text = escape(url)
    if url.lower().startswith(("http://", "https://")):
        return f'<a href="{text}" rel="noreferrer nofollow">{text}</a>'
    return text


def _count(number: int, one: str, many: str | None = None) -> str:
    """`number` and the noun, singular or plural: "1 loop", "2 loops"."""
    return f"{number:,} {one if number == 1 else many or one + 's'}"


def _empty(text: str) -> str:
    return f'<p class="note">{escape(text)}</p>'


def _bytes(size: int) -> str:
    value = float(size)
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if value < 1000 or unit == "TB":
            return f"{value:,.0f} {unit}" if unit == "B" else f"{value:,.1f} {unit}"
        value /= 1000
    raise AssertionError("unreachable")


def _moment(seconds: float) -> str:
    return escape(time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(seconds)))
