"""The training loop, without Ray: `trainer` (Adam, clipping, EMA, schedules, early stopping, state),
`divergence` (per-seed divergence in a batched run), `speed` (compile and precision),
`checkpoint` (checkpoint files), `progress` (the progress bar) and `run` (one run into a folder:
the work of `python -m tune_ired.train`).
"""
