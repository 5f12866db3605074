"""The Ray layer: a search-space file (or a campaign of them) run as Ray Tune sweeps. The only layer
that imports Ray.

`arguments` (the sweep command's flags and every continue line), `validate` (a search-space
file checked, every trial's config made once per budget), `plan`, `folder` and `resources`
(what the command line, the sweep folder and the machine decide), `costs` (what it will cost),
`driver` (a sweep from its command line to its exit code), `lock`, `signals` and `auth` (one
driver per folder, SIGTERM as Ctrl-C, the private Ray token), `tuner` and `trainable` (Tune,
and the adapter from a trial to the trainer), `console`, `trackers`, `dryrun` and `summary`
(what a sweep says), `campaign` (several studies on one Ray) and `submit` (a SLURM job, checked
first).
"""
