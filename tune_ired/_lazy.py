"""The package's one lazy-import helper: a module named at the top of a file, imported on first use.

Commands answer `--help` before torch, Ray or pandas load, and a package's public names
(`from tune_ired.analysis import analyse`) cost nothing until used, without imports scattered
inside functions:

    tuner = lazy("tune_ired.tuning.tuner")              # nothing is imported yet
    tuner.run_tuner(plan)                              # imported here, once
    __getattr__ = lazy_attributes({"analyse": "tune_ired.analysis.study"})   # in a package's __init__

`tests/test_layering.py` reads both forms as imports, so the layering contract covers them.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from types import ModuleType
from typing import Any


class LazyModule:
    """Stands for the module `name` until an attribute is read; then it is imported (once, by Python)."""

    __slots__ = ("_name",)

    def __init__(self, name: str):
        self._name = name

    def __getattr__(self, attribute: str) -> Any:
        return getattr(importlib.import_module(self._name), attribute)

    def __repr__(self) -> str:
        return f"<lazy module {self._name!r}>"


def lazy(name: str) -> ModuleType:
    """The module `name`, imported when first used."""
    return LazyModule(name)  # type: ignore[return-value]  # it answers every attribute as the module does


def lazy_attributes(homes: Mapping[str, str]) -> Callable[[str], Any]:
    """A package's `__getattr__` (PEP 562) serving each name in `homes` from its module, imported on first use."""

    def __getattr__(name: str) -> Any:
        if name not in homes:
            raise AttributeError(f"module has no attribute {name!r}")
        return getattr(importlib.import_module(homes[name]), name)

    return __getattr__
