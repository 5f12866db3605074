"""Energy landscapes of trained models (docs/landscapes.md): `basin` (measures on an energy callable),
`probe` (the directions and slices around the true inverse), `snapshots` (trained models from run
and sweep folders), `options` (the command's settings) and `write` (the work of
`python -m tune_ired.landscape`).
"""
