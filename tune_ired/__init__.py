"""tune_ired: a Ray Tune sweeper around a faithful, fast IRED matrix-inversion trainer.

The trainer (`tune_ired.train`) runs without Ray; `tune_ired.sweep` runs search-space
files on a local or cluster Ray; `tune_ired.report` turns sweep folders into reports.
"""

__version__ = "0.2.0"
