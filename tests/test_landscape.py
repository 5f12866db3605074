"""Energy landscapes: the basin measures on landscapes known exactly, and `python -m tune_ired.landscape` for real.

The measures are checked on a hand-set quadratic energy (grid-exact numbers) and on an
EnergyModel whose weights make E(x, y, t) = k^2 ||y - y*||^2; the command runs on a tiny
trained run (multi-seed, the Q-204 arm: Langevin negatives and a replay buffer) and on the
real tiny sweep of the analysis tests, whose `--static` PDFs must render with pdftoppm.
"""

from __future__ import annotations

import math
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import pytest
import torch
from conftest import ANALYSIS_ARMS, ANALYSIS_SEEDS
from test_report import SATURATION, ExternalRefs

from tune_ired.analysis.static import BROWSER_VARIABLE, StaticExportError, export_static
from tune_ired.ired.config import make_config
from tune_ired.ired.model import EnergyModel
from tune_ired.landscape import main
from tune_ired.landscapes.basin import (
    basin_measures,
    energy_along,
    line_grid,
    orthonormal,
    plane_rises,
    target_measures,
    unit,
)
from tune_ired.landscapes.probe import DIRECTIONS, MEASURES, model_energy
from tune_ired.landscapes.write import landscape, write_landscapes
from tune_ired.training.run import run_to_dir

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
PDFTOPPM = shutil.which("pdftoppm")
LINEAR_BIAS = (
    40.0  # swish(u) = u to 1e-15 relative for u >= 40: the hand-set model's layers are linear there
)
CLI_TIMEOUT_S = 300


def quadratic(minimum: torch.Tensor, curvature: float, floor: float = 0.0):
    """The energy callable E(y) = curvature * ||y - minimum||^2 + floor, minimum (S, P, d)."""
    return lambda y: curvature * (y - minimum[:, :, None]).pow(2).sum(dim=-1) + floor


def test_measures_of_a_known_quadratic():
    # along u from c, E = k2 ((alpha - o)^2 + p^2) + f: with o = 0.5 and k2 = 4/3 the energy rises by one
    # nat at alpha = 1.5 ahead and 0.5 behind, both on the grid of step 0.1
    centre = torch.tensor([[[0.3, -1.0, 2.0]]], dtype=torch.float64)
    u = torch.tensor([[[0.6, 0.8, 0.0]]], dtype=torch.float64)
    side = torch.tensor([[[0.0, 0.0, 1.0]]], dtype=torch.float64)
    o, p, k2, radius = 0.5, 0.7, 4.0 / 3.0, 2.0
    energy = quadratic(centre + o * u + p * side, k2, floor=3.0)
    line = energy_along(energy, centre, u, line_grid(radius=radius, points=41))
    got = {key: value.item() for key, value in basin_measures(line).items()}
    assert got["offset"] == pytest.approx(o, abs=1e-12)
    assert got["excess"] == pytest.approx(k2 * o**2, rel=1e-9)
    assert got["depth"] == pytest.approx(k2 * (radius**2 - 2 * radius * o), rel=1e-9)
    assert got["width_fwd"] == pytest.approx(1.5, rel=1e-9)
    assert got["width_back"] == pytest.approx(0.5, rel=1e-9)
    assert line.centre_energy.item() == pytest.approx(k2 * (o**2 + p**2) + 3.0, rel=1e-12)
    target = centre + 2.0 * u
    measured = target_measures(energy, centre, target)
    assert measured["target_distance"].item() == pytest.approx(2.0)
    assert measured["target_rise"].item() == pytest.approx(k2 * ((2 - o) ** 2 - o**2), rel=1e-9)


def test_width_between_grid_points_interpolates_and_a_flat_line_never_rises():
    centre, u = (
        torch.zeros(1, 1, 2, dtype=torch.float64),
        torch.tensor([[[1.0, 0.0]]], dtype=torch.float64),
    )
    # E = 2 alpha
    line = energy_along(lambda y: y[..., 0] * 2.0, centre, u, line_grid(radius=1.0, points=5))
    got = basin_measures(line)
    # linear: exact between the grid points 0 and 0.5
    assert got["width_fwd"].item() == pytest.approx(0.5)
    assert got["width_back"].item() == math.inf  # falls behind: never one nat above the centre
    assert got["depth"].item() == pytest.approx(-2.0)  # the far end lies below the centre: no basin
    nan_line = energy_along(
        lambda y: y[..., 0] * torch.nan, centre, u, line_grid(radius=1.0, points=5)
    )
    assert all(math.isnan(v.item()) for v in basin_measures(nan_line).values())
    assert torch.isnan(
        unit(torch.zeros(1, 1, 2))
    ).all()  # no direction is NaN, not a silent zero vector


def test_plane_rises_on_a_known_quadratic():
    centre = torch.tensor([[[1.0, 2.0, 3.0]]], dtype=torch.float64)
    u1 = unit(torch.tensor([[[1.0, 1.0, 0.0]]], dtype=torch.float64))
    u2 = orthonormal(u1, torch.tensor([[[1.0, 0.0, 1.0]]], dtype=torch.float64))
    assert (u1 * u2).sum().item() == pytest.approx(0.0, abs=1e-12)
    coords = line_grid(radius=1.0, points=3)
    # E = 2 (a^2 + b^2) about c
    rises = plane_rises(quadratic(centre, 2.0), centre, (u1, u2), coords)
    expected = 2.0 * (coords[:, None] ** 2 + coords[None, :] ** 2)
    torch.testing.assert_close(rises[0, 0], expected)


def hand_set_model(minimum: torch.Tensor, curvature: float, *, n: int) -> EnergyModel:
    """An EnergyModel (float64) with E(x, y, t) = curvature^2 ||y - minimum||^2 for every x and t.

    Layer 1 maps y to LINEAR_BIAS + curvature (y - minimum) (x's weights zero), where swish is
    the identity; layers 2 and 3 pass it on (identity weights, no FiLM) and layer 4 subtracts the bias.
    """
    d = n * n
    model = EnergyModel(seeds=[0], n=n, hidden=d, time_dim=4, diffusion_steps=10).double()
    eye = torch.eye(d, dtype=torch.float64)
    with torch.no_grad():
        for p in model.parameters():
            p.zero_()
        model.l1.weight[0, d:] = curvature * eye
        model.l1.bias[0, 0] = LINEAR_BIAS - curvature * minimum
        model.l2.weight[0], model.l3.weight[0], model.l4.weight[0] = eye, eye, eye
        model.l4.bias[0, 0] = -LINEAR_BIAS
    return model


def test_measures_of_an_energy_model_set_to_a_known_quadratic():
    n, curvature, problems = 3, 1.5, 6
    gen = torch.Generator().manual_seed(0)
    minimum = torch.randn(n * n, generator=gen, dtype=torch.float64)
    model = hand_set_model(minimum, curvature, n=n)
    x = torch.randn(1, problems, n * n, generator=gen, dtype=torch.float64)
    t = torch.randint(10, (1, problems), generator=gen)
    y = torch.randn(1, problems, n * n, generator=gen, dtype=torch.float64)
    torch.testing.assert_close(model(x, y, t), curvature**2 * (y - minimum).pow(2).sum(dim=-1))

    # chunks of one point per problem: exercises the splitting
    energy = model_energy(model, x, t, max_rows=7)
    exact = quadratic(minimum.expand(1, problems, -1), curvature**2)
    centre = torch.randn(1, problems, n * n, generator=gen, dtype=torch.float64)
    u = unit(torch.randn(1, problems, n * n, generator=gen, dtype=torch.float64))
    grid = line_grid(radius=3.0, points=31)
    got, want = (basin_measures(energy_along(f, centre, u, grid)) for f in (energy, exact))
    for key in want:
        torch.testing.assert_close(got[key], want[key], rtol=1e-9, atol=1e-9)
    # the line's minimum is the projection of the known minimum onto it, to within half a grid step
    projection = ((minimum - centre) * u).sum(dim=-1)
    assert (got["offset"] - projection).abs().max().item() <= 0.1 + 1e-9


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory) -> Path:
    """A real tiny run: 2 seeds of the Q-204 arm (Langevin negatives, replay buffer), 20 steps."""
    out = tmp_path_factory.mktemp("landscape_run") / "q204"
    overrides = {"preset": "Q-204", "num_seeds": 2, "train_steps": 20, "eval_every": 10}
    run_to_dir(out, make_config(overrides, budget="tiny"), echo=lambda line: None)
    return out


def test_landscape_of_a_tiny_run(tiny_run, tmp_path, capsys):
    out = tmp_path / "landscape"
    assert main([str(tiny_run), "--out", str(out), "--steps", "0,5,9", "--problems", "8"]) == 0
    printed = capsys.readouterr().out
    assert (
        "| arm | t | direction | seeds |" in printed
        and "final.pt (training step 20, ema weights)" in printed
    )
    basin = pd.read_csv(out / "basin.csv")
    assert len(basin) == 2 * 3 * len(DIRECTIONS)  # seeds x steps x directions
    assert (
        set(basin["seed"]) == {0, 1}
        and set(basin["t"]) == {0, 5, 9}
        and set(basin["problems"]) == {8}
    )
    finite = basin[["energy_centre", "depth", "offset", "excess"]]
    assert np.isfinite(finite.to_numpy()).all()
    targeted = basin[basin["direction"] != "random"]
    assert (targeted["target_distance"] > 0).all() and basin.loc[
        basin["direction"] == "random", MEASURES[-1]
    ].isna().all()
    page = (out / "landscape.html").read_text()
    refs = ExternalRefs()
    refs.feed(page)
    assert refs.refs == []  # self-contained: plotly.js inlined, no CDN
    assert page.count("plotly-graph-div") == 3
    assert (out / "basin.md").read_text() in printed


def test_landscape_is_seeded_and_each_step_stands_alone(tiny_run):
    both = landscape(tiny_run, steps=[0, 5], problems=4).basin
    again = landscape(tiny_run, steps=[5], problems=4).basin
    pd.testing.assert_frame_equal(both[both["t"] == 5].reset_index(drop=True), again)


def test_write_landscapes_returns_its_outputs(tiny_run, tmp_path):
    paths = write_landscapes(tiny_run, out=tmp_path, steps=[9], problems=2)
    assert set(paths) == {"html", "csv", "markdown"}
    assert all(path.is_file() and path.parent == tmp_path for path in paths.values())


def test_landscape_errors_name_the_input(tiny_run, tmp_path, capsys):
    assert main([str(tmp_path), "--out", str(tmp_path / "o")]) == 2
    assert str(tmp_path) in capsys.readouterr().err
    assert main([str(tiny_run), "--out", str(tmp_path / "o"), "--steps", "10"]) == 2
    assert "--steps [10]" in capsys.readouterr().err


def read_ppm(path: Path) -> np.ndarray:
    """An 8-bit binary PPM (P6, what pdftoppm writes without -png) as an (H, W, 3) array."""
    data = path.read_bytes()
    magic, width, height, depth, pixels = data.split(maxsplit=4)
    assert magic == b"P6" and int(depth) == 255
    return np.frombuffer(pixels[: int(width) * int(height) * 3], dtype=np.uint8).reshape(
        int(height), int(width), 3
    )


@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (Debian package chromium)")
@pytest.mark.skipif(
    PDFTOPPM is None, reason="pdftoppm is not installed (Debian package poppler-utils)"
)
def test_landscape_of_the_tiny_sweep_with_static_figures(analysis_sweep, tmp_path):
    pytest.importorskip("kaleido", reason="static export needs the 'static' extra (kaleido)")
    out = tmp_path / "landscape"
    cmd = [
        sys.executable,
        "-m",
        "tune_ired.landscape",
        str(analysis_sweep.folder),
        "--out",
        str(out),
    ]
    done = subprocess.run(
        [*cmd, "--problems", "8", "--static"], capture_output=True, text=True, timeout=CLI_TIMEOUT_S
    )
    assert done.returncode == 0, done.stderr[-3000:]
    basin = pd.read_csv(out / "basin.csv")
    assert set(basin["arm"]) == set(ANALYSIS_ARMS)
    assert basin.groupby("arm")["seed"].nunique().to_dict() == dict.fromkeys(
        ANALYSIS_ARMS, ANALYSIS_SEEDS
    )
    assert all(
        "/checkpoint_0" in line for line in done.stdout.splitlines() if line.startswith("- ")
    )
    pdfs = sorted((out / "figures").glob("*.pdf"))
    assert len(pdfs) == 3 and len(list((out / "figures").glob("*.png"))) == 3
    tex = (out / "figures.tex").read_text()
    for pdf in pdfs:
        assert f"\\includegraphics[width=\\linewidth]{{figures/{pdf.name}}}" in tex
        subprocess.run(
            [PDFTOPPM, "-r", "30", "-singlefile", str(pdf), str(tmp_path / pdf.stem)], check=True
        )
        image = read_ppm(tmp_path / f"{pdf.stem}.ppm").astype(int)
        coloured = (image.max(axis=-1) - image.min(axis=-1)) > SATURATION
        assert coloured.mean() > 0.001, f"{pdf.name} renders without plotted colour"


def test_static_export_names_a_missing_browser(monkeypatch, tmp_path):
    pytest.importorskip("kaleido", reason="static export needs the 'static' extra (kaleido)")
    monkeypatch.setenv(BROWSER_VARIABLE, str(tmp_path / "no-chromium"))
    with pytest.raises(StaticExportError, match="no-chromium"):
        export_static([("a figure", go.Figure())], tmp_path / "figures")
    assert not (tmp_path / "figures").exists()  # checked before anything is written


@pytest.mark.skipif(
    PDFTOPPM is None, reason="pdftoppm is not installed (Debian package poppler-utils)"
)
def test_report_static_figures_are_pdfs_that_render(analysis_sweep, tmp_path):
    pytest.importorskip("kaleido", reason="static export needs the 'static' extra (kaleido)")
    cmd = [
        sys.executable,
        "-m",
        "tune_ired.report",
        str(analysis_sweep.folder),
        "--static",
        "--out",
        str(tmp_path),
    ]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=CLI_TIMEOUT_S)
    assert done.returncode == 0, done.stderr[-3000:]
    pdfs = sorted((tmp_path / "figures").glob("*.pdf"))
    assert pdfs and len(list((tmp_path / "figures").glob("*.png"))) == len(pdfs)
    tex = (tmp_path / "tables.tex").read_text()
    for pdf in pdfs:
        assert f"\\includegraphics[width=\\linewidth]{{figures/{pdf.name}}}" in tex
        subprocess.run(
            [PDFTOPPM, "-r", "30", "-singlefile", str(pdf), str(tmp_path / pdf.stem)], check=True
        )
        image = read_ppm(tmp_path / f"{pdf.stem}.ppm").astype(int)
        assert ((image.max(axis=-1) - image.min(axis=-1)) > SATURATION).mean() > 0.001, pdf.name
