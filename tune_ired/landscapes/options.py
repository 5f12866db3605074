"""The landscape command's settings, torch-free so that `python -m tune_ired.landscape --help` answers at once."""

WEIGHTS = (
    "ema",
    "live",
)  # which weights of a checkpoint are measured: the EMA's (evaluated) or the live ones
DEFAULT_PROBLEMS = (
    32  # validation problems per landscape: stable medians, seconds per step at paper size
)
