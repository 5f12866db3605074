"""The method: IRED for matrix inversion, as docs/method.md states it (torch, but `config`).

`config` (every knob of a run, its budgets and presets merged by `make_config`; torch-free),
`data` and `noise` (problems and seeded draws, §1), `model` (the energy MLP and its
hand-written gradient, §2), `diffusion` (the schedule, energy descent and the sampler, §3, 4,
6), `mining` with `langevin` and `replay` (negatives, §8-9), `energy_loss` and `loss` (the
training loss, §5, 9), `evaluate` (the metrics, §7) and `diagnostics` (§10).
"""
