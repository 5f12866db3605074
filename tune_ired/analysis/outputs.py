"""Where the reading commands write: the names of the report's and the landscapes' output files and folders.

Plain data (no pandas, no torch), so that `python -m tune_ired.report --help` and
`python -m tune_ired.landscape --help` name them at once.
"""

REPORT_FOLDER = "report"  # a report's default output folder, inside the sweep folder
REPORT_OUTPUTS = {"html": "report.html", "markdown": "summary.md", "latex": "tables.tex"}
INDEX = {"markdown": "index.md", "html": "index.html"}  # a campaign's index, in its report folder
STATIC_FOLDER = (
    "figures"  # --static PDFs and PNGs, inside a report's or a landscape's output folder
)
LANDSCAPE_FOLDER = "landscape"  # energy landscapes' default output folder, inside the run or sweep
LANDSCAPE_OUTPUTS = {
    "html": "landscape.html",
    "csv": "basin.csv",
    "markdown": "basin.md",
    "latex": "figures.tex",
}
