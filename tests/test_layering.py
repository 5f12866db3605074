"""The package's layering as a test (docs/architecture.md draws the same picture).

Each module of `tune_ired` belongs to one layer; a module may import modules of its own
layer or of lower layers, never a higher one. On top of that: the trainer stack never
imports Ray, the analysis side (results, analysis, report, status) never imports torch or
the trainer, even indirectly, and a search-space file imports nothing but `ray.tune` and
`tune_ired.space`. Imports are read from the source (module level and inside functions;
`if TYPE_CHECKING:` blocks are type hints, not imports).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "tune_ired"

# Lowest first. Trainer stack: record -> config -> problems -> model -> dynamics -> objective
# -> measures -> trainer -> drivers -> sweeps; analysis stack: record -> tables -> analysis -> report.
LAYERS: list[tuple[str, set[str]]] = [
    (
        "record",
        {"catalogue", "cli", "__main__", "_lazy", "budgets", "provenance", "runlog", "tunestate"},
    ),
    ("config", {"config"}),
    ("problems", {"data", "noise"}),
    ("model", {"model"}),
    ("dynamics", {"diffusion", "langevin", "replay"}),
    ("objective", {"mining", "energy_loss"}),
    ("measures", {"diagnostics", "evaluate", "loss", "divergence", "speed"}),
    ("trainer", {"trainer", "checkpoint"}),
    ("drivers", {"train", "trainable", "progress"}),
    ("tables", {"results"}),
    ("analysis", {"analysis"}),
    ("report", {"report", "status"}),
    (
        "sweeps",
        {
            "space",
            "plan",
            "tuner",
            "summary",
            "sweep",
            "auth",
            "console",
            "trackers",
            "dryrun",
            "campaign",
            "lock",
            "signals",
        },
    ),
    # energy landscapes of trained runs and sweeps
    ("tools", {"basin", "probe", "snapshots", "landscape"}),
]
TRAINER_STACK = {
    "problems",
    "model",
    "dynamics",
    "objective",
    "config",
    "measures",
    "trainer",
    "drivers",
}
ANALYSIS_STACK = {"tables", "analysis", "report"}
SPACE_FILE_IMPORTS = {"ray.tune", "ray", "tune_ired.space"}


def module_name(path: Path) -> str:
    return ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")


def layer_of(module: str) -> str | None:
    """The layer of a tune_ired module (analysis.* is one layer), None for modules outside the package."""
    parts = module.split(".")
    if parts[0] != "tune_ired" or len(parts) < 2:
        return None
    for name, members in LAYERS:
        if parts[1] in members:
            return name
    raise AssertionError(f"{module} is in no layer: add it to LAYERS in tests/test_layering.py")


def is_type_checking(node: ast.If) -> bool:
    return isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING"


def imports(path: Path) -> set[str]:
    """Every module `path` imports (absolute names; `from tune_ired import x` counts as tune_ired.x)."""
    found: set[str] = set()

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and is_type_checking(node):
            return
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found.update(
                f"{node.module}.{alias.name}" for alias in node.names if node.module == "tune_ired"
            )
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(ast.parse(path.read_text()))
    return {name for name in found if name != "__future__"}


MODULES = {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}
GRAPH = {name: imports(path) for name, path in MODULES.items()}


def closure(module: str) -> set[str]:
    """Everything `module` imports, directly or through other tune_ired modules."""
    seen, todo = set(), [module]
    while todo:
        for name in GRAPH.get(todo.pop(), ()):
            if name not in seen:
                seen.add(name)
                todo.append(name)
    return seen


def rank(layer: str) -> int:
    return [name for name, _ in LAYERS].index(layer)


def violations(module: str, names: set[str]) -> list[str]:
    """What is wrong with `module` importing `names`: a higher layer, or the trainer from the analysis side."""
    own, found = layer_of(module), []
    for name in sorted(names):
        other = layer_of(name) if name in MODULES else None
        if other is None or own is None:
            continue
        if rank(other) > rank(own):
            found.append(f"{module} ({own}) imports {name} ({other}), a higher layer")
        if own in ANALYSIS_STACK and other in TRAINER_STACK:
            found.append(f"{module} ({own}) imports {name}, part of the trainer")
    return found


@pytest.mark.parametrize("module", sorted(MODULES))
def test_no_module_imports_a_higher_layer(module):
    assert violations(module, GRAPH[module]) == []


RAY_ADAPTERS = {"tune_ired.trainable"}  # the thin adapter from a Tune trial to the trainer


@pytest.mark.parametrize(
    "module",
    sorted(
        m for m in MODULES if layer_of(m) in TRAINER_STACK | {"record"} and m not in RAY_ADAPTERS
    ),
)
def test_the_trainer_never_imports_ray(module):
    assert not {name for name in closure(module) if name.split(".")[0] == "ray"}, module


@pytest.mark.parametrize(
    "module", sorted(m for m in MODULES if layer_of(m) in ANALYSIS_STACK | {"record"})
)
def test_the_analysis_side_never_imports_torch_or_the_trainer(module):
    reached = closure(module)
    assert not {name for name in reached if name.split(".")[0] == "torch"}, (
        f"{module} reaches torch"
    )
    trainer = {name for name in reached if name in MODULES and layer_of(name) in TRAINER_STACK}
    assert not trainer, f"{module} reaches {sorted(trainer)}"


@pytest.mark.parametrize(
    "path", sorted((ROOT / "search_spaces").glob("*.py")), ids=lambda p: p.stem
)
def test_search_space_files_are_data(path):
    assert imports(path) <= SPACE_FILE_IMPORTS, (
        f"{path.name} imports {sorted(imports(path) - SPACE_FILE_IMPORTS)}"
    )


def test_the_contract_catches_a_violation(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text(
        "import torch\nfrom tune_ired import trainer\nif TYPE_CHECKING:\n    import ray\n"
    )
    assert imports(bad) == {"torch", "tune_ired", "tune_ired.trainer"}
    # the analysis side reaching the trainer
    assert violations("tune_ired.results", {"tune_ired.trainer"})
    # a lower layer importing a higher one
    assert violations("tune_ired.data", {"tune_ired.mining"})
    assert not violations("tune_ired.loss", {"tune_ired.mining", "tune_ired.catalogue", "torch"})
