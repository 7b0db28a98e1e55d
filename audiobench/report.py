"""Figures and a self-contained HTML report over result files.

Every figure is drawn with matplotlib's Agg renderer (no display needed) and embedded in the
page as a base64 PNG, and the styles are inline, so the report is one file that opens offline
and can be attached to a CI run. Nothing here prints.
"""

from __future__ import annotations

import base64
import html
import io
from collections import defaultdict
from dataclasses import dataclass
from typing import Sequence

from audiobench.errors import ConfigError
from audiobench.formats import to_html_table
from audiobench.leaderboard import Collection, Entry, Leaderboard, latest
from audiobench.results import now_iso

CSS = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 72em; color: #222; }
table { border-collapse: collapse; margin: 1em 0; }
th, td { border: 1px solid #ccc; padding: 0.3em 0.7em; text-align: right; }
th:first-child, td:first-child { text-align: left; }
thead th { background: #f3f3f3; }
tr.reported th, tr.reported td { color: #777; font-style: italic; font-weight: normal; }
td.best { font-weight: bold; background: #eef7ee; }
p.note, li.note { color: #555; font-size: 0.9em; }
img { max-width: 100%; display: block; margin: 1em 0; }
"""


# ----------------------------------------------------------------------------- figures


def _new_figure(width: float, height: float):
    # Figure objects, not pyplot: no global state, no GUI backend; savefig renders with Agg.
    try:
        from matplotlib.figure import Figure
    except ImportError:
        raise ConfigError("figures need matplotlib, which is not installed",
                          "pip install 'audiobench[plot]'") from None

    return Figure(figsize=(width, height), dpi=100, layout="constrained")


def _png(figure) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", metadata={"Software": None})
    return buffer.getvalue()


def bar_chart_png(board: Leaderboard) -> bytes:
    """Grouped bars: one group per column, one bar per row, error bars = std over folds.

    Reference rows are hatched and have no error bars (their sources report none)."""
    import numpy as np

    rows, columns = board.rows, board.columns
    figure = _new_figure(max(6.0, 1.6 * len(columns) + 2.5), 4.5)
    axes = figure.subplots()
    width = 0.8 / max(1, len(rows))
    positions = np.arange(len(columns))
    for index, row in enumerate(rows):
        cells = [board.cell(row, column) for column in columns]
        means = [c.entry.mean * 100 if c else np.nan for c in cells]
        stds = [(c.entry.std or 0.0) * 100 if c and c.entry.n_folds > 1 else 0.0 for c in cells]
        reported = row in board.reported_rows
        axes.bar(positions + (index - (len(rows) - 1) / 2) * width, means, width, label=row,
                 yerr=None if reported else stds, capsize=3, hatch="//" if reported else None,
                 alpha=0.55 if reported else 1.0)
    axes.set_xticks(positions, [c.title for c in columns], rotation=15)
    axes.set_ylabel("accuracy (%)")
    axes.set_ylim(0, 100)
    axes.legend(fontsize="small", loc="upper left", bbox_to_anchor=(1.0, 1.0))
    return _png(figure)


@dataclass(frozen=True)
class LayerCurve:
    protocol_id: str
    label: str
    points: list[Entry]  # one per layer, sorted by layer


def layer_curves(entries: Sequence[Entry]) -> list[LayerCurve]:
    """Accuracy against layer for every encoder/probe/pooling/protocol measured at 2+ layers."""
    measured = [e for e in entries if e.measured and e.layer is not None]
    newest, _ = latest(measured, lambda e: (e.protocol_id, e.manifest_sha256, e.curve, e.layer))
    groups: dict[tuple[str, str | None, str], list[Entry]] = defaultdict(list)
    for (protocol_id, manifest, curve, _layer), entry in newest.items():
        groups[(protocol_id, manifest, curve)].append(entry)
    return [LayerCurve(pid, curve, sorted(points, key=lambda e: e.layer))
            for (pid, _manifest, curve), points in sorted(groups.items(), key=lambda kv: (kv[0][0], kv[0][2]))
            if len(points) > 1]


def layer_curve_pngs(curves: Sequence[LayerCurve]) -> list[tuple[str, bytes]]:
    """One figure per protocol id, one line per curve."""
    by_protocol: dict[str, list[LayerCurve]] = defaultdict(list)
    for curve in curves:
        by_protocol[curve.protocol_id].append(curve)
    figures = []
    for protocol_id, group in by_protocol.items():
        figure = _new_figure(7.0, 4.0)
        axes = figure.subplots()
        for curve in group:
            axes.errorbar([e.layer for e in curve.points], [e.mean * 100 for e in curve.points],
                          yerr=[(e.std or 0.0) * 100 for e in curve.points], marker="o", capsize=3,
                          label=curve.label)
        axes.set_title(protocol_id)
        axes.set_xlabel("layer (0 = input embeddings)")
        axes.set_ylabel("accuracy (%)")
        axes.legend(fontsize="small")
        figures.append((protocol_id, _png(figure)))
    return figures


def layer_sweep_png(entries: Sequence[Entry]) -> bytes:
    """``plot layers``: one panel per protocol id; for every ``--layer all`` result a test curve
    (solid) and a validation curve (dashed) against layer, the chosen layer ringed."""
    sweeps = [e for e in entries if e.result is not None and e.result.layer_curve]
    by_protocol: dict[str, list[Entry]] = defaultdict(list)
    for entry in sweeps:
        by_protocol[entry.protocol_id].append(entry)
    figure = _new_figure(7.0, 3.6 * len(by_protocol))
    for axes, (protocol_id, group) in zip(figure.subplots(len(by_protocol), 1, squeeze=False)[:, 0],
                                          sorted(by_protocol.items())):
        for entry in group:
            curve = entry.result.layer_curve
            layers = [p.layer for p in curve]
            (line,) = axes.plot(layers, [p.test * 100 for p in curve], marker="o", label=f"{entry.curve} test")
            axes.plot(layers, [p.valid * 100 for p in curve], linestyle="--", color=line.get_color(),
                      label=f"{entry.curve} valid")
            axes.plot([entry.result.layer], [entry.result.scores.mean * 100], marker="o", markersize=12,
                      fillstyle="none", color=line.get_color())
        axes.set_title(f"{protocol_id} (ringed: best layer on validation)")
        axes.set_xlabel("layer (0 = input embeddings)")
        axes.set_ylabel("accuracy (%)")
        axes.legend(fontsize="small")
    return _png(figure)


@dataclass(frozen=True)
class EncodingSpeed:
    """Embedding speed of one encoder on one task and device, from its newest result."""

    encoder: str
    task: str
    device: str
    clips_per_second: float
    clips_encoded: int
    embed_seconds: float

    @property
    def label(self) -> str:
        return f"{self.encoder} \u00b7 {self.task} \u00b7 {self.device}"


def throughputs(entries: Sequence[Entry]) -> list[EncodingSpeed]:
    """Embedding speed per encoder, task and device, from the newest result that encoded clips.

    Results served from the cache (no clips encoded) say nothing about speed and are left out.
    """
    timed = [e for e in entries if e.measured and e.result.timing.clips_encoded > 0
             and e.result.timing.clips_per_second]
    newest, _ = latest(timed, lambda e: (e.encoder, e.result.task.name, e.result.env.device))
    return [EncodingSpeed(encoder, task, device, e.result.timing.clips_per_second, e.result.timing.clips_encoded,
                          e.result.timing.embed_seconds)
            for (encoder, task, device), e in sorted(newest.items())]


def throughput_png(rows: Sequence[EncodingSpeed]) -> bytes:
    figure = _new_figure(7.0, 1.0 + 0.45 * len(rows))
    axes = figure.subplots()
    labels = [r.label for r in rows]
    axes.barh(labels, [r.clips_per_second for r in rows])
    axes.invert_yaxis()
    axes.set_xlabel("clips per second (embedding, all layers)")
    return _png(figure)


# ----------------------------------------------------------------------------- HTML


def _img(png: bytes, alt: str) -> str:
    data = base64.b64encode(png).decode("ascii")
    return f'<img src="data:image/png;base64,{data}" alt="{html.escape(alt)}">'


def _page(title: str, body: str) -> str:
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>'
            f"<style>{CSS}</style></head><body>\n{body}\n</body></html>\n")


def leaderboard_page(board: Leaderboard) -> str:
    """``compare --format html``: the table alone, as a standalone page."""
    return _page("audiobench leaderboard", "<h1>Leaderboard</h1>" + to_html_table(board))


def render_report(collection: Collection, board: Leaderboard) -> str:
    """The full report: leaderboard and bar chart, layer curves, throughput, skipped files."""
    e = html.escape
    parts = [f"<h1>audiobench report</h1><p class=\"note\">{len(collection.measured)} measured result(s), "
             f"generated {e(now_iso())}.</p>"]
    if collection.skipped:
        items = "".join(f'<li class="note">{e(s.reason)}</li>' for s in collection.skipped)
        parts.append(f"<h2>Skipped files</h2><ul>{items}</ul>")
    parts.append("<h2>Leaderboard</h2>" + to_html_table(board))
    parts.extend(f'<p class="note">{e(note)}</p>' for note in board.notes)
    parts.append(_img(bar_chart_png(board), "accuracy per task and encoder"))

    parts.append("<h2>Layer curves</h2>")
    curves = layer_curves(collection.entries)
    if curves:
        parts.extend(_img(png, f"accuracy by layer on {pid}") for pid, png in layer_curve_pngs(curves))
    else:
        parts.append('<p class="note">No encoder was probed at more than one layer of the same task.</p>')

    parts.append("<h2>Throughput</h2>")
    speeds = throughputs(collection.entries)
    if speeds:
        parts.append(_img(throughput_png(speeds), "embedding throughput"))
        rows = "".join(f"<tr><td>{e(t.encoder)}</td><td>{e(t.task)}</td><td>{e(t.device)}</td>"
                       f"<td>{t.clips_per_second:.1f}</td><td>{t.clips_encoded}</td><td>{t.embed_seconds:.1f}</td></tr>"
                       for t in speeds)
        parts.append("<table class=\"throughput\"><thead><tr><th>encoder</th><th>task</th><th>device</th>"
                     "<th>clips/s</th><th>clips encoded</th><th>embed s</th></tr></thead>"
                     f"<tbody>{rows}</tbody></table>")
    else:
        parts.append('<p class="note">No result encoded clips itself (all came from the cache), so there is '
                     "no throughput to show.</p>")
    return _page("audiobench report", "\n".join(parts))
