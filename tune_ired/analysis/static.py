"""Static figures for papers: each plotly figure as a PDF and a PNG, plus LaTeX that includes them.

Plotly's own static export engine, kaleido (>= 1), drives a Chromium that is already
installed (Debian's `chromium`, or the browser named by the environment variable
BROWSER_PATH); nothing is downloaded at run time: plotly.js comes from the installed
plotly package and MathJax is off (figure text is plain). kaleido is an optional
dependency: `pip install 'tune_ired[static]'`.

    from tune_ired.analysis.static import export_static, latex_figures
    paths = export_static(figures, out / "figures")     # figures: [(title, go.Figure)]
    tex = latex_figures(figures, out / "figures", relative_to=out)   # append to tables.tex

The figure's title goes into the LaTeX caption (the static copy leaves it out of the image);
a figure without one is captioned with the title it is listed under.
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import plotly.graph_objects as go

from tune_ired.analysis.render import latex_escape

FORMATS = ("pdf", "png")
PNG_SCALE = 2  # pixels per layout pixel: sharp when a PNG is printed at the PDF's size
DEFAULT_WIDTH, DEFAULT_HEIGHT = 900, 550  # layout pixels, for a figure that sets no size of its own
UNTITLED_TOP_MARGIN = (
    50  # layout pixels above the plots once the title is gone: room for subplot titles
)
BROWSER_VARIABLE = "BROWSER_PATH"  # the variable kaleido's browser driver (choreographer) reads
BROWSER_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
RENDER_TIMEOUT_S = 120  # per image, on a busy 2-core machine (kaleido's default is 90)
SLUG = re.compile(r"[^a-z0-9]+")
STEM_LENGTH = 48  # characters of the title kept in a file name: readable in a LaTeX source


class StaticExportError(RuntimeError):
    """Static export is impossible here: kaleido or Chromium is missing, or an image was not written."""


def browser() -> str:
    """The Chromium to drive: BROWSER_PATH when set, else the first browser on PATH (never a download)."""
    named = os.environ.get(BROWSER_VARIABLE)
    found = named or next((path for name in BROWSER_NAMES if (path := shutil.which(name))), None)
    if not found or not Path(found).is_file():
        raise StaticExportError(
            f"static export needs a Chromium: install it (Debian: apt-get install chromium) or set "
            f"{BROWSER_VARIABLE} to its executable{f' (it is {named!r}, not a file)' if named else ''}."
        )
    return found


def figure_stem(index: int, title: str) -> str:
    """A file name stem from a figure's place and title, e.g. '02-energy-along-lines'."""
    return f"{index + 1:02d}-{SLUG.sub('-', title.lower())[:STEM_LENGTH].strip('-')}"


def figure_path(folder: Path, index: int, title: str, fmt: str) -> Path:
    """Where the figure at `index` goes in `folder` as a `fmt` file."""
    return folder / f"{figure_stem(index, title)}.{fmt}"


def untitled(fig: go.Figure) -> dict:
    """The figure as a dict without its title (the caption carries it), sized for export."""
    data = fig.to_dict()
    data["layout"].pop("title", None)
    data["layout"]["margin"] = {"t": UNTITLED_TOP_MARGIN, **data["layout"].get("margin", {})}
    data["layout"].setdefault("width", DEFAULT_WIDTH)
    data["layout"].setdefault("height", DEFAULT_HEIGHT)
    return data


def export_static(
    figures: list[tuple[str, go.Figure]], out: Path, *, formats: tuple[str, ...] = FORMATS
) -> list[Path]:
    """Write every figure as PDF and PNG into `out` (one Chromium for all); returns the paths, figure by figure."""
    try:
        import kaleido  # optional dependency, imported when asked for
    except ImportError as err:
        raise StaticExportError(
            "static export needs kaleido >= 1.1: pip install 'tune_ired[static]'"
        ) from err
    options = {"mathjax": False, "path": browser(), "timeout": RENDER_TIMEOUT_S}
    out.mkdir(parents=True, exist_ok=True)
    specs, paths = [], []
    for i, (title, fig) in enumerate(figures):
        data = untitled(fig)
        size = {"width": data["layout"]["width"], "height": data["layout"]["height"]}
        for fmt in formats:
            path = figure_path(out, i, title, fmt)
            scale = PNG_SCALE if fmt == "png" else 1
            specs.append(
                {"fig": data, "path": path, "opts": {"format": fmt, "scale": scale, **size}}
            )
            paths.append(path)
    kaleido.write_fig_from_object_sync(specs, kopts=options)
    missing = [str(p) for p in paths if not p.is_file() or p.stat().st_size == 0]
    if missing:
        raise StaticExportError(f"kaleido wrote no image at {', '.join(missing)}")
    return paths


def latex_figures(figures: list[tuple[str, go.Figure]], folder: Path, *, relative_to: Path) -> str:
    """One LaTeX figure per exported PDF in `folder` (needs \\usepackage{graphicx}), paths relative to `relative_to`.

    Captions are the figures' own titles, else the titles they are listed under.
    """
    blocks = ["% figures exported by tune_ired.analysis.static; needs \\usepackage{graphicx}"]
    for i, (title, fig) in enumerate(figures):
        pdf = figure_path(folder, i, title, "pdf")
        if not pdf.is_file():
            raise StaticExportError(f"{pdf} does not exist: run export_static first")
        blocks.append(
            "\n".join(
                [
                    r"\begin{figure}[ht]",
                    r"\centering",
                    rf"\includegraphics[width=\linewidth]{{{Path(os.path.relpath(pdf, relative_to)).as_posix()}}}",
                    rf"\caption{{{latex_escape(fig.layout.title.text or title)}}}",
                    rf"\label{{fig:{pdf.stem}}}",
                    r"\end{figure}",
                ]
            )
        )
    return "\n\n".join(blocks) + "\n"
