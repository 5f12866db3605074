"""The package's layering as a test (docs/architecture.md draws the same picture).

The package is cut into layers, one folder each (plus the few top-level modules: the commands,
the search-space contract and what every command shares). A module may import its own layer
or lower ones, never a higher one; no two modules import each other, even through others (no
cycle); the lower layers never reach Ray, the record, the search-space contract and the
analysis never reach torch or the trainer, `config` and `space` import no torch, and a
search-space file imports nothing but `ray.tune` and `tune_ired.space`. Imports are read
from the source: module level, inside functions, and the lazy imports of `tune_ired._lazy`
(`lazy("module")`, `lazy_attributes({...: "module"})`); `if TYPE_CHECKING:` blocks are type
hints, not imports.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "tune_ired"

# Lowest first: what every command shares; the run record (no torch, no Ray); the search-space
# contract; the method; the training loop; the analysis; the energy landscapes; the Ray layer;
# the commands.
LAYERS: list[tuple[str, tuple[str, ...]]] = [
    ("base", ("tune_ired", "tune_ired.cli", "tune_ired._lazy", "tune_ired.budgets")),
    ("record", ("tune_ired.record",)),
    ("contract", ("tune_ired.space",)),
    ("ired", ("tune_ired.ired",)),
    ("training", ("tune_ired.training",)),
    ("analysis", ("tune_ired.analysis",)),
    ("landscapes", ("tune_ired.landscapes",)),
    ("tuning", ("tune_ired.tuning",)),
    (
        "commands",
        (
            "tune_ired.__main__",
            "tune_ired.train",
            "tune_ired.sweep",
            "tune_ired.status",
            "tune_ired.report",
            "tune_ired.landscape",
        ),
    ),
]
NO_RAY = {"base", "record", "contract", "ired", "training", "analysis", "landscapes"}
NO_TORCH = {"base", "record", "contract", "analysis"}
TORCH_FREE_MODULES = {"tune_ired.ired.config", "tune_ired.space", "tune_ired.budgets"}
TRAINER = {"ired", "training"}
SPACE_FILE_IMPORTS = {"ray.tune", "ray", "tune_ired.space"}
LAZY_CALLS = {"lazy", "lazy_attributes"}


def module_name(path: Path) -> str:
    return ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")


def layer_of(module: str) -> str | None:
    """The layer of a tune_ired module (the longest prefix listed), None outside the package."""
    if module.split(".")[0] != "tune_ired":
        return None
    best = None
    for name, prefixes in LAYERS:
        for prefix in prefixes:
            if (module == prefix or module.startswith(prefix + ".")) and (
                best is None or len(prefix) > len(best[1])
            ):
                best = (name, prefix)
    assert best is not None, f"{module} is in no layer: add it to LAYERS in tests/test_layering.py"
    return best[0]


def is_type_checking(node: ast.If) -> bool:
    return isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING"


def lazy_targets(node: ast.Call, tree: ast.Module) -> set[str]:
    """The modules a `lazy("m")` or `lazy_attributes({...: "m"})` call imports (the dict may be a
    module-level name)."""
    if not (isinstance(node.func, ast.Name) and node.func.id in LAZY_CALLS) or not node.args:
        return set()
    arg = node.args[0]
    if isinstance(arg, ast.Name):
        assigned = [
            n.value
            for n in tree.body
            if isinstance(n, ast.Assign)
            and any(getattr(t, "id", None) == arg.id for t in n.targets)
        ]
        arg = assigned[0] if assigned else arg
    values = arg.values if isinstance(arg, ast.Dict) else [arg]
    return {v.value for v in values if isinstance(v, ast.Constant) and isinstance(v.value, str)}


def is_module(name: str) -> bool:
    parts = name.split(".")
    return (PACKAGE.parent.joinpath(*parts).with_suffix(".py")).exists() or (
        PACKAGE.parent.joinpath(*parts, "__init__.py").exists()
    )


def imports(path: Path) -> set[str]:
    """Every module `path` imports (absolute names): `from tune_ired.x import y` imports x.y when that
    is a module of the package, else x."""
    found: set[str] = set()
    tree = ast.parse(path.read_text())

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and is_type_checking(node):
            return
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            for alias in node.names:
                sub = f"{node.module}.{alias.name}"
                found.add(
                    sub if node.module.startswith("tune_ired") and is_module(sub) else node.module
                )
        elif isinstance(node, ast.Call):
            found.update(lazy_targets(node, tree))
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
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
        if name not in MODULES:
            continue
        other = layer_of(name)
        if rank(other) > rank(own):
            found.append(f"{module} ({own}) imports {name} ({other}), a higher layer")
        if own in NO_TORCH and other in TRAINER:
            found.append(f"{module} ({own}) imports {name}, part of the trainer")
    return found


@pytest.mark.parametrize("module", sorted(MODULES))
def test_no_module_imports_a_higher_layer(module):
    assert violations(module, GRAPH[module]) == []


@pytest.mark.parametrize("module", sorted(MODULES))
def test_no_import_cycle(module):
    """No module reaches itself through its imports (the package's own __init__ aside)."""
    own = {name for name in GRAPH[module] if name in MODULES and name != "tune_ired"}
    assert not any(module in closure(name) for name in own), f"{module} is in an import cycle"


@pytest.mark.parametrize("module", sorted(m for m in MODULES if layer_of(m) in NO_RAY))
def test_only_the_ray_layer_imports_ray(module):
    assert not {name for name in closure(module) if name.split(".")[0] == "ray"}, module


@pytest.mark.parametrize(
    "module", sorted(m for m in MODULES if layer_of(m) in NO_TORCH or m in TORCH_FREE_MODULES)
)
def test_the_record_the_contract_and_the_analysis_never_reach_torch(module):
    reached = closure(module)
    assert not {name for name in reached if name.split(".")[0] == "torch"}, (
        f"{module} reaches torch"
    )
    if module not in TORCH_FREE_MODULES:
        trainer = {name for name in reached if name in MODULES and layer_of(name) in TRAINER}
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
        "import torch\nfrom tune_ired.training import trainer\nif TYPE_CHECKING:\n    import ray\n"
        'x = lazy("tune_ired.tuning.tuner")\n'
    )
    assert imports(bad) == {"torch", "tune_ired.training.trainer", "tune_ired.tuning.tuner"}
    # the analysis side reaching the trainer
    assert violations("tune_ired.analysis.study", {"tune_ired.training.trainer"})
    # a lower layer importing a higher one
    assert violations("tune_ired.ired.data", {"tune_ired.tuning.plan"})
    assert not violations(
        "tune_ired.ired.loss", {"tune_ired.ired.mining", "tune_ired.record.catalogue", "torch"}
    )
