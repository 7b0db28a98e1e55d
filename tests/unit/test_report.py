"""The HTML report and its figures (audiobench.report), including a render in headless Chromium."""

from __future__ import annotations

import base64
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from support.results import make_result, write

from audiobench.errors import ConfigError
from audiobench.leaderboard import build_leaderboard, collect
from audiobench.report import (bar_chart_png, layer_curves, leaderboard_page, render_report,
                               throughputs)

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
REPO = Path(__file__).resolve().parents[2]


def _results(tmp_path: Path) -> Path:
    """Two encoders on two tasks, one encoder probed at 4 layers, plus a corrupt file."""
    root = tmp_path / "results"
    write(root, make_result("whisper-base", "esc50/5fold", 0.70, clips_per_second=80.0))
    write(root, make_result("whisper-base", "gtzan/filtered", 0.60))
    write(root, make_result("whisper-aut", "esc50/5fold", 0.85, clips_per_second=20.0, device="cuda"))
    for layer, accuracy in [(0, 0.40), (2, 0.55), (4, 0.68)]:
        write(root / "layers", make_result("whisper-aut", "esc50/5fold", accuracy, layer=layer, clips_encoded=0))
    (root / "broken.json").write_text("{")
    return root


def _report(tmp_path: Path) -> str:
    root = _results(tmp_path)
    write(root, make_result("whisper-large-v3", "esc50/paper", 0.5, clips_encoded=0))
    collection = collect([root, REPO / "results" / "reference"])
    return render_report(collection, build_leaderboard(collection.entries, with_reference=True))


def _images(page: str) -> list[bytes]:
    return [base64.b64decode(data) for data in re.findall(r'src="data:image/png;base64,([^"]+)"', page)]


def test_layer_curves_group_by_encoder_task_probe_and_pooling(tmp_path):
    root = _results(tmp_path)
    write(root, make_result("whisper-aut", "esc50/5fold", 0.5, layer=1, pooling="padded-mean"))
    (curve,) = layer_curves(collect([root]).entries)  # the lone padded-mean layer makes no curve
    assert (curve.protocol_id, curve.label) == ("esc50/5fold", "whisper-aut")
    assert [e.layer for e in curve.points] == [0, 2, 4, 6]


def test_throughput_ignores_results_served_from_the_cache(tmp_path):
    speeds = throughputs(collect([_results(tmp_path)]).entries)
    assert [(t.encoder, t.task, t.device, t.clips_per_second) for t in speeds] == [
        ("whisper-aut", "esc50", "cuda", 20.0), ("whisper-base", "esc50", "cpu", 80.0),
        ("whisper-base", "gtzan", "cpu", 40.0)]


def test_report_is_self_contained_with_every_section(tmp_path):
    page = _report(tmp_path)
    # No external assets: every src/href is inline data, and nothing is fetched by script or stylesheet.
    assert all(ref.startswith("data:") for ref in re.findall(r'(?:src|href)="([^"]*)"', page))
    assert "<link" not in page and "<script" not in page
    images = _images(page)
    assert len(images) == 3  # bar chart, one layer-curve figure, throughput
    assert all(png.startswith(PNG_MAGIC) for png in images)
    assert '<tr class="reported"><th scope="row">whisper-large-v3 (paper)</th>' in page
    assert "broken.json" in page  # skipped files are listed, not hidden
    assert '<td class="best"><strong>85.00 ± 1.00</strong></td>' in page


def test_bar_chart_and_leaderboard_page(tmp_path):
    board = build_leaderboard(collect([_results(tmp_path)]).entries)
    assert bar_chart_png(board).startswith(PNG_MAGIC)
    page = leaderboard_page(board)
    assert page.startswith("<!DOCTYPE html>") and "whisper-base" in page


# ----------------------------------------------------------------------------- browser

# Appended to a copy of the report: after load, records how many images the browser decoded.
PROBE = """<script>
window.addEventListener("load", () => {
  const images = Array.from(document.images);
  const marker = document.createElement("pre");
  marker.id = "probe";
  marker.textContent = JSON.stringify({
    images: images.length,
    decoded: images.filter(i => i.complete && i.naturalWidth > 0).length,
    rows: Array.from(document.querySelectorAll("table.leaderboard tbody tr")).map(r => r.cells[0].textContent),
  });
  document.body.appendChild(marker);
});
</script>"""


def _chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


def _render(page: str, path: Path) -> dict:
    path.write_text(page.replace("</body>", PROBE + "</body>"))
    command = [_chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
               "--disable-background-networking", "--disable-component-update", "--disable-sync",
               f"--user-data-dir={path.parent / 'chromium-profile'}", "--virtual-time-budget=10000",
               "--dump-dom", path.as_uri()]
    dom = subprocess.run(command, capture_output=True, text=True, timeout=120, check=True).stdout
    found = re.search(r'<pre id="probe">([^<]*)</pre>', dom)
    assert found, f"the probe script did not run; chromium printed:\n{dom[:2000]}"
    return json.loads(found.group(1).replace("&quot;", '"').replace("&amp;", "&"))


@pytest.mark.skipif(_chromium() is None, reason="chromium is not installed (apt-get install -y chromium)")
def test_report_renders_in_headless_chromium(tmp_path):
    page = _report(tmp_path)
    seen = _render(page, tmp_path / "report.html")
    assert seen["images"] == 3 and seen["decoded"] == 3
    assert seen["rows"] == ["whisper-aut", "whisper-aut (L0)", "whisper-aut (L2)", "whisper-aut (L4)",
                            "whisper-aut (paper)", "whisper-base", "whisper-large-v3", "whisper-large-v3 (paper)"]

    # The probe itself must be able to fail: a corrupt image is counted as not decoded.
    broken = page.replace("</h1>", '</h1><img src="data:image/png;base64,AAAA" alt="broken">', 1)
    seen = _render(broken, tmp_path / "broken.html")
    assert seen["images"] == 4 and seen["decoded"] == 3


def test_figures_without_matplotlib_name_the_extra(tmp_path: Path, monkeypatch) -> None:
    board = build_leaderboard(collect([write(tmp_path, make_result())]).entries)
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)  # import fails as if not installed
    with pytest.raises(ConfigError, match=r"pip install 'audiobench\[plot\]'"):
        bar_chart_png(board)
