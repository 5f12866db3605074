"""Benchmarks of the trainer (print figures; not tests). See benchmarks/README.md."""
