"""The HTML pieces of the report: table cells and tables, figures (a :class:`Plot` embedded as
base64 PNG and written beside the page as ``report-NAME.png``)."""

from __future__ import annotations

import base64
import math
import re
from dataclasses import dataclass
from html import escape
from typing import Any

from embench.report.console import format_figure, format_value, is_approximate
from embench.report.load import value

PNG_PREFIX = "report-"  # the PNG files beside the report: report-NAME.png


@dataclass
class Plot:
    """One figure: written as ``report-NAME.png`` and embedded in the page."""

    name: str
    title: str
    caption: str
    png: bytes

    @property
    def filename(self) -> str:
        return f"{PNG_PREFIX}{self.name}.png"


def safe_name(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.@-]+", "_", text)


def cell(text: Any, cls: str | None = None, **attrs: str) -> str:
    extra = "".join(f' {k.replace("_", "-")}="{escape(str(v))}"' for k, v in attrs.items())
    klass = f' class="{cls}"' if cls else ""
    return f"<td{klass}{extra}>{escape(str(text))}</td>"


def html_table(
    header: list[str],
    rows: list[list[str]],
    *,
    id: str | None = None,
    row_classes: list[str] | None = None,
) -> str:
    """``rows`` hold ready-made ``<td>`` cells."""
    ident = f' id="{escape(id)}"' if id else ""
    head = "".join(f"<th>{escape(h)}</th>" for h in header)
    body = []
    for i, row in enumerate(rows):
        klass = f' class="{row_classes[i]}"' if row_classes and row_classes[i] else ""
        body.append(f"<tr{klass}>{''.join(row)}</tr>")
    return (
        f"<div class='scroll'><table{ident}><thead><tr>{head}</tr></thead>"
        f"<tbody>{''.join(body)}</tbody></table></div>"
    )


def number_cell(x: Any, marks: str = "") -> str:
    shown = format_value(x if isinstance(x, int | float) else None) if x is not None else "-"
    return cell(shown + marks, "num")


def figure_cell(row: dict[str, Any], key: str, marks: str = "") -> str:
    """A results-table figure: ``±`` the half-width of a sampled figure's 95% interval,
    ``≈`` when an approximate index served it; the tooltip gives the interval and sizes."""
    if not isinstance(value(row, key), float) or math.isnan(value(row, key)):
        return number_cell(None, marks)
    details = []
    interval = (row.get("intervals") or {}).get(key)
    if interval:
        n, population = interval["n"], interval["population"]
        if n < population and interval.get("low") is not None:
            details.append(
                f"95% CI [{interval['low']:.4f}, {interval['high']:.4f}], "
                f"n = {n:,} of {population:,} queries"
            )
        elif n >= population:
            details.append(f"exact: all {population:,} queries")
    if is_approximate(row, key):
        details.append("computed through an approximate neighbour index")
    attrs = {"title": "; ".join(details)} if details else {}
    return cell(format_figure(row, key) + marks, "num", **attrs)


def figure_html(plot: Plot) -> str:
    data = base64.b64encode(plot.png).decode("ascii")
    return (
        f'<figure><img src="data:image/png;base64,{data}" alt="{escape(plot.title)}" '
        f'data-plot="{escape(plot.name)}"><figcaption>{escape(plot.caption)} '
        f"(<code>{escape(plot.filename)}</code>)</figcaption></figure>"
    )
