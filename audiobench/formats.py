"""Every output format of a leaderboard, rendered from one view.

``view(board)`` decides, once, what each cell says (mean +- std, delta and p-value) and how it
is styled (``best``, ``reported``, ``plain``, ``empty``); the terminal table, markdown, html
and the HTML report map those styles to their own markup, and csv / json write ``records``
(one flat dict per cell). Nothing here prints.
"""

from __future__ import annotations

import csv
import html
import io
import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from audiobench.leaderboard import Cell, Delta, Entry, Leaderboard

if TYPE_CHECKING:
    from rich.table import Table

Style = Literal["best", "reported", "plain", "empty"]


@dataclass(frozen=True)
class ViewCell:
    score: str = ""   # "80.00 ± 1.00", percent
    delta: str = ""   # "(+1.00, p=0.250)" against the baseline
    style: Style = "empty"

    @property
    def text(self) -> str:
        return f"{self.score} {self.delta}" if self.delta else self.score


@dataclass(frozen=True)
class ViewRow:
    label: str  # the row label, "(baseline)" appended for the baseline row
    reported: bool
    cells: list[ViewCell]


@dataclass(frozen=True)
class LeaderboardView:
    header: list[str]  # column titles; the row-label column is "encoder"
    rows: list[ViewRow]
    footnotes: list[str]


def view(board: Leaderboard) -> LeaderboardView:
    rows = []
    for row in board.rows:
        reported = row in board.reported_rows
        cells = [_view_cell(board.cell(row, column), reported) for column in board.columns]
        rows.append(ViewRow(f"{row} (baseline)" if row == board.baseline else row, reported, cells))
    return LeaderboardView([c.title for c in board.columns], rows, board.footnotes())


def _view_cell(cell: Cell | None, reported_row: bool) -> ViewCell:
    if cell is None:
        return ViewCell()
    style: Style = "best" if cell.best else ("reported" if reported_row or not cell.entry.measured else "plain")
    return ViewCell(format_score(cell.entry), format_delta(cell.delta) if cell.delta else "", style)


def format_score(entry: Entry) -> str:
    """Mean +- std in percent; a single run (one fold, or no spread reported) shows no +-."""
    text = f"{entry.mean * 100:.2f}"
    if entry.std is not None and entry.n_folds > 1:
        text += f" \u00b1 {entry.std * 100:.2f}"
    interval = entry.result.scores.ci95 if entry.result is not None else None
    if interval:
        text += f" [{interval[0] * 100:.1f}, {interval[1] * 100:.1f}]"
    return text


def format_delta(delta: Delta) -> str:
    text = f"{delta.points:+.2f}"
    if delta.test is not None:
        text += f", p={format_p(delta.test.p_value)}" + ("" if delta.test.significant else " n.s.")
    return f"({text})"


def format_p(p: float) -> str:
    return "<0.001" if p < 0.001 else f"{p:.3f}"


# ----------------------------------------------------------------------------- tables


def to_markdown(board: Leaderboard) -> str:
    """GitHub-flavoured Markdown: best measured cell bold, reference rows italic."""
    v = view(board)
    mark = {"best": "**{}**", "reported": "*{}*", "plain": "{}", "empty": "{}"}
    lines = ["| " + " | ".join(["encoder", *v.header]) + " |", "|" + "---|" * (len(v.header) + 1)]
    for row in v.rows:
        label = f"*{row.label}*" if row.reported else row.label
        lines.append("| " + " | ".join([label, *(mark[c.style].format(c.text) for c in row.cells)]) + " |")
    for footnote in v.footnotes:  # one paragraph each
        lines.extend(["", footnote])
    return "\n".join(lines) + "\n"


def to_html_table(board: Leaderboard) -> str:
    """The leaderboard as an HTML table: best measured cell bold, reference rows grey italic
    (styles in ``report.CSS``)."""
    e = html.escape
    v = view(board)
    head = "".join(f"<th>{e(title)}</th>" for title in v.header)
    body = []
    for row in v.rows:
        cells = "".join(f'<td class="best"><strong>{e(c.text)}</strong></td>' if c.style == "best"
                        else f"<td>{e(c.text)}</td>" for c in row.cells)
        css = ' class="reported"' if row.reported else ""
        body.append(f"<tr{css}><th scope=\"row\">{e(row.label)}</th>{cells}</tr>")
    notes = "".join(f'<p class="note">{e(line)}</p>' for line in v.footnotes)
    return (f'<table class="leaderboard"><thead><tr><th>encoder</th>{head}</tr></thead>'
            f"<tbody>{''.join(body)}</tbody></table>{notes}")


def to_rich(board: Leaderboard) -> Table:
    """The terminal table: best measured cell bold green, reference rows dim italic."""
    from rich.table import Table
    from rich.text import Text

    v = view(board)
    style = {"best": "bold green", "reported": "dim italic", "plain": "", "empty": ""}
    table = Table(show_lines=False)
    table.add_column("encoder", no_wrap=True)
    for title in v.header:
        table.add_column(title, justify="right", overflow="fold")
    for row in v.rows:
        # The delta goes on its own line so a narrow terminal does not break it mid-number.
        cells = [Text(c.score + (f"\n{c.delta}" if c.delta else ""), style=style[c.style]) for c in row.cells]
        table.add_row(Text(row.label, style="dim italic" if row.reported else ""), *cells)
    return table


def to_text(board: Leaderboard, width: int = 240) -> str:
    """The terminal table as plain text with its footnotes (``--format table --out FILE``)."""
    from rich.console import Console

    buffer = io.StringIO()
    Console(file=buffer, width=width, color_system=None).print(to_rich(board))
    return buffer.getvalue() + "".join(f"{line}\n" for line in board.footnotes())


# ----------------------------------------------------------------------------- records


def records(board: Leaderboard) -> list[dict[str, Any]]:
    """One flat dict per cell (accuracy in percent), for CSV and JSON."""
    out = []
    for row in board.rows:
        for column in board.columns:
            cell = board.cell(row, column)
            if cell is None:
                continue
            e, test, r = cell.entry, cell.delta.test if cell.delta else None, cell.entry.result
            out.append({
                "row": row, "encoder": e.encoder, "kind": e.kind, "protocol_id": e.protocol_id,
                "column": column.key, "mean": round(e.mean * 100, 4),
                "std": None if e.std is None else round(e.std * 100, 4), "n_folds": e.n_folds,
                "best": cell.best, "baseline": row == board.baseline,
                "delta": round(cell.delta.points, 4) if cell.delta else None,
                "p_value": test.p_value if test else None, "paired_clips": test.n_items if test else None,
                "paired_test": test.method if test else None, "significant": test.significant if test else None,
                "ci95": [round(v * 100, 4) for v in r.scores.ci95] if r and r.scores.ci95 else None,
                "manifest_sha256": e.manifest_sha256, "mixed_manifests": column.mixed,
                "layer": e.layer, "probe": r.probe.name if r else None, "pooling": r.pooling if r else None,
                "dtype": r.extraction.dtype if r else None,
                "source": e.source if e.source else str(e.path)})
    return out


def to_csv(board: Leaderboard) -> str:
    """Long format, one line per cell, accuracy in percent."""
    rows = records(board)
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(rows[0]) if rows else ["row"], lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue()


def to_json(board: Leaderboard) -> str:
    payload = {"columns": [c.key for c in board.columns], "rows": board.rows, "baseline": board.baseline,
               "cells": records(board), "footnotes": board.footnotes(), "notes": board.notes}
    return json.dumps(payload, indent=2) + "\n"
