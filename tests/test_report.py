"""The analysis tables and the report on a REAL tiny sweep (2 arms x 3 seeds, killed once and resumed).

The HTML report is opened in a real headless Chromium: it must paint its plots (coloured
pixels in a screenshot, plotly's SVG in the DOM) with nothing on the browser console.
"""

from __future__ import annotations

import json
import shutil
import struct
import subprocess
import sys
import zlib
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest
from conftest import ANALYSIS_ARMS, ANALYSIS_EVAL_EVERY, ANALYSIS_SEEDS, ANALYSIS_STEPS

from tune_ired.analysis import analyse, load_study, seed_curves, study_figures

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--enable-logging=stderr",
    "--v=0",
    "--virtual-time-budget=15000",  # let plotly lay out and draw every figure before the capture
]
BROWSER_TIMEOUT_S = 120
SATURATION = (
    60  # max - min of RGB above this: a coloured (plotted) pixel, not text, grid or background
)
STEPS = list(range(ANALYSIS_EVAL_EVERY, ANALYSIS_STEPS + 1, ANALYSIS_EVAL_EVERY))


class ExternalRefs(HTMLParser):
    """Collects every src= / href= of script, link, img and iframe tags (a self-contained page has none).

    Also counts the rows of each table's header (thead).
    """

    def __init__(self):
        super().__init__()
        self.refs: list[str] = []
        self.header_rows: list[int] = []
        self.in_head = False

    def handle_starttag(self, tag, attrs):
        if tag in ("script", "link", "img", "iframe"):
            self.refs += [value for name, value in attrs if name in ("src", "href") and value]
        if tag == "thead":
            self.in_head = True
            self.header_rows.append(0)
        if tag == "tr" and self.in_head:
            self.header_rows[-1] += 1

    def handle_endtag(self, tag):
        if tag == "thead":
            self.in_head = False


def run_report(*args: str) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "tune_ired.report", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=BROWSER_TIMEOUT_S)


@pytest.fixture(scope="module")
def report(analysis_sweep, tmp_path_factory) -> tuple[subprocess.CompletedProcess, Path]:
    out = tmp_path_factory.mktemp("report")
    return run_report(str(analysis_sweep.folder), "--baseline", "none", "--out", str(out)), out


def test_tables_shapes_and_statuses(analysis_sweep):
    study = load_study(analysis_sweep.folder)
    assert len(study.trials) == len(ANALYSIS_ARMS)
    assert set(study.trials["status"]) == {"completed"}
    assert study.arms == sorted(ANALYSIS_ARMS)
    assert study.finals.shape[0] == len(ANALYSIS_ARMS) * ANALYSIS_SEEDS
    assert (
        study.finals.groupby("arm")["seed"].apply(sorted).tolist()
        == [list(range(ANALYSIS_SEEDS))] * 2
    )
    assert study.finals["final/val/mse"].notna().all()
    curves = seed_curves(study.trials, study.curves, "val/mse")
    assert len(curves) == len(ANALYSIS_ARMS) * ANALYSIS_SEEDS * len(STEPS)


def test_resumed_sweep_has_each_iteration_once(analysis_sweep):
    assert analysis_sweep.killed_after_reports >= 1  # the first run really was killed mid-sweep
    study = load_study(analysis_sweep.folder)
    assert not study.curves.duplicated(["trial_id", "step"]).any()
    assert study.curves.groupby("trial_id")["step"].apply(list).tolist() == [STEPS] * len(
        ANALYSIS_ARMS
    )
    for path in analysis_sweep.folder.glob(
        "*/metrics.jsonl"
    ):  # on disk too: a resume cuts rows past its checkpoint
        assert [json.loads(line)["step"] for line in path.open()] == STEPS


def test_the_sweeps_terminal_output_has_no_escape_codes(analysis_sweep):
    """At a terminal the sweep's output ends with its own last line: no colour code (Ray's CLI logger left
    colorama's exit hook to print a stray ESC[0m as the sweep's last line)."""
    if not analysis_sweep.terminal:
        pytest.skip("util-linux `script` is not installed: no pseudo-terminal to print to")
    assert "\x1b" not in analysis_sweep.log
    assert analysis_sweep.log.rstrip().splitlines()[-1].startswith("next, the report:")


def test_a_repeated_report_counts_once(analysis_sweep, tmp_path):
    """As after a retry: the same step reported twice on disk; the tables keep the later report only."""
    copy = shutil.copytree(analysis_sweep.folder, tmp_path / "two_arms")
    result = sorted(copy.glob("*/metrics.jsonl"))[0]
    lines = result.read_text().splitlines()
    repeated = {**json.loads(lines[1]), "val/mse": 123.0}
    result.write_text("\n".join([*lines[:2], json.dumps(repeated), *lines[2:]]) + "\n")
    study = load_study(copy)
    assert not study.curves.duplicated(["trial_id", "step"]).any()
    assert len(study.curves) == len(ANALYSIS_ARMS) * len(STEPS)
    assert (study.curves["val/mse"] == 123.0).sum() == 1


def test_analysis_and_figures(analysis_sweep):
    study = load_study(analysis_sweep.folder)
    findings = analyse(study)
    assert findings.baseline == "none"
    assert list(findings.comparison.index) == ["adversarial"]
    assert findings.summary["seeds"].tolist() == [ANALYSIS_SEEDS] * 2
    assert (
        len(findings.verdicts) == 1
        and str(findings.verdicts[0]).split(": ")[1] == "adversarial vs none"
    )
    assert "diverged: adversarial 0/3, none 0/3" in findings.verdicts[0].text
    titles = [title for title, _ in study_figures(study, findings)]
    assert "Learning curves: val/mse" in titles and "Energy gap E(neg) - E(pos)" in titles
    assert "Trial survival (ASHA rungs)" not in titles  # the sweep ran without a scheduler


def test_report_writes_three_outputs(report):
    done, out = report
    assert done.returncode == 0, done.stderr
    assert "report: [1/" in done.stderr  # progress
    markdown = (out / "summary.md").read_text()
    assert "## Verdicts" in markdown and "adversarial vs none" in markdown
    assert (
        markdown.index("## Verdicts")
        < markdown.index("## Key findings")
        < markdown.index("## Per-arm summary")
    )
    verdict = next(line for line in markdown.splitlines() if "adversarial vs none" in line)
    assert (
        verdict.split()[1] in ("**MEETS**", "**MISSES**", "**INCONCLUSIVE**")
        and "none 0/3" in verdict
    )
    assert "| adversarial | 3 | 0/3 |" in markdown and "| none | 3 | 0/3 |" in markdown
    assert "## Provenance" in markdown
    assert markdown in done.stdout
    latex = (out / "tables.tex").read_text()
    assert latex.count(r"\begin{tabular}") == latex.count(r"\end{tabular}") == 3
    assert r"\pm" in latex and r"\toprule" in latex
    page = (out / "report.html").read_text()
    parser = ExternalRefs()
    parser.feed(page)
    assert parser.refs == []  # offline: nothing loaded from elsewhere, plotly.js is inlined
    assert parser.header_rows == [1, 1, 1]  # every table's header on one row
    assert "Plotly.newPlot" in page and "plotly.js" in page


def test_report_errors_name_the_input(analysis_sweep, tmp_path):
    not_a_sweep = run_report(str(tmp_path))
    assert not_a_sweep.returncode == 2 and str(tmp_path) in not_a_sweep.stderr
    bad_arm = run_report(
        str(analysis_sweep.folder), "--baseline", "nope", "--out", str(tmp_path / "r")
    )
    assert bad_arm.returncode == 2 and "nope" in bad_arm.stderr and "adversarial" in bad_arm.stderr


def read_png(path: Path) -> np.ndarray:
    """Decode an 8-bit RGB/RGBA PNG (what Chromium writes) to an (H, W, C) array."""
    data = path.read_bytes()
    pos, chunks, header = 8, [], None
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos : pos + 8])
        body = data[pos + 8 : pos + 8 + length]
        header = struct.unpack(">IIBB", body[:10]) if kind == b"IHDR" else header
        chunks += [body] if kind == b"IDAT" else []
        pos += 12 + length
    width, height, depth, color = header
    assert depth == 8 and color in (2, 6)
    c = 3 if color == 2 else 4
    raw = np.frombuffer(zlib.decompress(b"".join(chunks)), dtype=np.uint8).reshape(
        height, 1 + width * c
    )
    rows, prev = [], [0] * (width * c)
    for line in raw:
        rows.append(prev := unfilter(int(line[0]), line[1:].tolist(), prev, c))
    return np.array(rows, dtype=np.uint8).reshape(height, width, c)


def unfilter(kind: int, row: list[int], prev: list[int], c: int) -> list[int]:
    """Undo one PNG scanline filter (0 none, 1 sub, 2 up, 3 average, 4 Paeth)."""
    if kind == 2:
        return [(x + b) & 255 for x, b in zip(row, prev, strict=True)]
    for i in range(len(row)):
        a = row[i - c] if i >= c else 0
        b, ul = prev[i], (prev[i - c] if i >= c else 0)
        if kind == 1:
            row[i] = (row[i] + a) & 255
        elif kind == 3:
            row[i] = (row[i] + (a + b) // 2) & 255
        elif kind == 4:
            p = a + b - ul
            pa, pb, pc = abs(p - a), abs(p - b), abs(p - ul)
            row[i] = (row[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else ul)) & 255
    return row


def chromium(*args: str, profile: Path) -> subprocess.CompletedProcess:
    cmd = [CHROMIUM, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=BROWSER_TIMEOUT_S)


def console_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if ":CONSOLE" in line]


@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (Debian package chromium)")
def test_html_renders_in_chromium(report, tmp_path):
    done, out = report
    assert done.returncode == 0, done.stderr
    url = (out / "report.html").resolve().as_uri()
    plots = (out / "report.html").read_text().count('class="plotly-graph-div"')
    # the console check is only worth something if a console message would be seen: a control page
    control = tmp_path / "control.html"
    control.write_text(
        "<html><body><script>console.error('control-message')</script></body></html>"
    )
    seen = chromium("--dump-dom", control.resolve().as_uri(), profile=tmp_path / "p0")
    assert any("control-message" in line for line in console_lines(seen.stderr)), seen.stderr[
        -2000:
    ]

    dom = chromium("--dump-dom", url, profile=tmp_path / "p1")
    assert dom.returncode == 0, dom.stderr[-2000:]
    rendered = dom.stdout.split('class="plotly-graph-div')[1:]
    assert plots >= 5 and len(rendered) == plots
    for (
        figure
    ) in rendered:  # every figure drew its SVG and at least one trace (scatter, bars, boxes, ...)
        assert 'class="main-svg"' in figure and 'class="trace ' in figure
    assert console_lines(dom.stderr) == []

    shot = tmp_path / "shot.png"
    # tall enough for the whole page (about 4,200 CSS pixels): every figure is in the capture
    size = ["--window-size=1200,5000", "--force-device-scale-factor=0.5", f"--screenshot={shot}"]
    chromium(*size, url, profile=tmp_path / "p2")
    pixels = read_png(shot)[..., :3].astype(int)
    painted = (pixels < 250).any(axis=-1).mean()
    coloured = (pixels.max(axis=-1) - pixels.min(axis=-1) > SATURATION).mean()
    assert painted > 0.05, f"screenshot nearly blank: {painted:.1%} painted"
    assert coloured > 0.005, f"no plotted colour in the screenshot: {coloured:.2%}"
