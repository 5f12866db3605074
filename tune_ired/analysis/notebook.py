"""Figures in notebooks that render anywhere: beside plotly's JSON, an HTML copy and a PNG copy.

Jupyter shows a figure from its plotly JSON output, which nothing else renders (GitHub,
nbconvert without plotly's extension, a text editor show a blank). The notebooks in
analysis/ call `portable_figures()` first: every figure is then also saved as HTML
(plotly.js loaded from its CDN: nbviewer, VS Code, an exported page) and, when plotly's
static engine can run here (kaleido and an installed Chromium, as for `report --static`),
as a PNG, which GitHub shows. One Chromium serves every figure of the notebook.

    from tune_ired.analysis.notebook import portable_figures
    portable_figures()      # 'plotly_mimetype+notebook_connected+png'
"""

from __future__ import annotations

import os
import warnings

import plotly.io as pio

from tune_ired.analysis.static import BROWSER_VARIABLE, StaticExportError, browser

# Jupyter's interactive figure, and an HTML copy
RENDERERS = ("plotly_mimetype", "notebook_connected")
PNG_RENDERER = "png"


def start_png_engine() -> bool:
    """Start kaleido's browser for the notebook's PNG copies; False (with the reason printed) when it cannot run."""
    try:
        import kaleido

        os.environ.setdefault(BROWSER_VARIABLE, browser())
    except (ImportError, StaticExportError) as err:
        reason = "kaleido is not installed" if isinstance(err, ImportError) else str(err)
        print(
            f"figures: no PNG copies ({reason}); pip install -e '.[notebooks]' and a Chromium add them"
        )
        return False
    kaleido.start_sync_server(silence_warnings=True)
    # plotly's note on the shared server
    warnings.filterwarnings("ignore", message="The kopts argument is ignored")
    return True


def portable_figures(*, png: bool = True) -> str:
    """Make every figure shown from now on carry HTML (and, with `png`, PNG) beside its JSON; returns the renderers."""
    renderers = list(RENDERERS)
    if png and start_png_engine():
        renderers.append(PNG_RENDERER)
    pio.renderers.default = "+".join(renderers)
    return pio.renderers.default
