"""Search-space files: every shipped file loads at every budget; a broken one is a SpaceError naming file and key."""

from __future__ import annotations

from pathlib import Path

import pytest
from ray import tune

from tune_ired.ired.config import ConfigError, make_config
from tune_ired.space import SearchSpace
from tune_ired.tuning.validate import SpaceError, budget_trials, load_campaign, load_space

FILES = sorted((Path(__file__).parent.parent / "search_spaces").glob("*.py"))
CAMPAIGNS = {"research_plan"}  # files that assign a Campaign of studies
SPACES = [path for path in FILES if path.stem not in CAMPAIGNS]
STUDIES = {
    "strategies",
    "multiseed",
    "opt_steps",
    "ascent_lr",
    "noise_scale",
    "mixed_ratio",
    "dcd_ablation",
    "ood",
    "matrix_size",
    "diffusion_steps",
    "optuna_mining",
}
HEADER = "from ray import tune\nfrom tune_ired.space import ASHA, Budget, SearchSpace\n"


def trials_at(spec, budget, overrides, *, source="test"):
    return budget_trials(spec, budget, overrides, source=source)


def check_file(path: Path) -> SearchSpace:
    """What a sweep of the file checks before Ray starts: the file, then every budget's trials."""
    spec = load_space(path)
    for budget in spec.budgets:
        trials_at(spec, budget, {}, source=f"{path} at budget '{budget}'")
    return spec


def write_space(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "space.py"
    path.write_text(HEADER + body)
    return path


def test_every_study_has_a_file():
    assert {p.stem for p in SPACES} >= STUDIES


@pytest.mark.parametrize("path", SPACES, ids=lambda p: p.stem)
def test_shipped_file_builds_a_config_at_every_budget(path):
    spec = load_space(path)
    assert isinstance(spec, SearchSpace)
    for budget in spec.budgets:
        trials = trials_at(spec, budget, {})
        assert trials.configs and len(trials.configs) == len(trials.explicit)
        fixed = {k: v for k, v in trials.param_space.items() if k not in spec.budget_space(budget)}
        make_config(fixed)


def test_multiseed_trains_ten_seeds_per_arm_without_a_scheduler():
    spec = load_space(next(p for p in SPACES if p.stem == "multiseed"))
    assert spec.base["num_seeds"] == 10 and spec.scheduler is None
    assert spec.space["strategy"] == tune.grid_search(["none", "random", "adversarial"])


BROKEN = {
    "unknown key in space": (
        's = SearchSpace(space={"noise_scal": tune.grid_search([1.0])})',
        "noise_scal",
    ),
    "unknown key in base": ('s = SearchSpace(space={}, base={"lrr": 0.1})', "lrr"),
    "grid value out of range": (
        's = SearchSpace(space={"mixed_ratio": tune.grid_search([0.5, 1.5])})',
        "mixed_ratio",
    ),
    "bad choice": (
        's = SearchSpace(space={"strategy": tune.choice(["adversarial", "advers"])})',
        "strategy",
    ),
    "distribution bound": ('s = SearchSpace(space={"lr": tune.loguniform(1e-4, 10.0)})', "'lr'"),
    "integer bound": ('s = SearchSpace(space={"opt_steps": tune.randint(-3, 5)})', "opt_steps"),
    "fixed value type": ('s = SearchSpace(space={"n": "five"})', "'n'"),
    "budget override": (
        's = SearchSpace(space={}, budgets={"tiny": Budget(config={"train_step": 5})})',
        "train_step",
    ),
    "unknown budget": ('s = SearchSpace(space={}, budgets={"huge": Budget()})', "huge"),
    "metric typo": ('s = SearchSpace(space={}, metric="val/mes")', "val/mes"),
    "optuna with grid": (
        's = SearchSpace(space={"n": tune.grid_search([3])}, searcher="optuna")',
        "grid_search",
    ),
    "no object": ("x = 1", "exactly one SearchSpace"),
    "two objects": ("a = SearchSpace(space={})\nb = SearchSpace(space={})", "it assigns a, b"),
    "syntax error": ("s = SearchSpace(space={", "syntax error"),
    "raises": ("s = SearchSpace(space=undefined_name)", "NameError"),
    "cross-field": (
        's = SearchSpace(space={}, base={"lr_schedule": "cosine", "cosine_start": 10**9})',
        "cosine_start",
    ),
}


@pytest.mark.parametrize("body, needle", BROKEN.values(), ids=BROKEN.keys())
def test_broken_file_names_file_and_key(tmp_path, body, needle):
    path = write_space(tmp_path, body)
    with pytest.raises(ConfigError) as err:
        check_file(path)
    message = str(err.value)
    assert str(path) in message and needle in message and "\n" not in message


def test_missing_file(tmp_path):
    with pytest.raises(SpaceError, match="no such search-space file"):
        load_space(tmp_path / "nope.py")


def test_unsupported_budget_and_set_overrides(tmp_path):
    body = 's = SearchSpace(space={"n": tune.grid_search([3, 4])}, budgets={"tiny": Budget(config={"lr": 0.01})})'
    path = write_space(tmp_path, body)
    spec = load_space(path)
    with pytest.raises(SpaceError, match="budget 'quick' is not supported"):
        trials_at(spec, "quick", {})
    trials = trials_at(spec, "tiny", {"n": 5, "seed": 2})
    param_space = trials.param_space
    assert param_space["n"] == 5 and param_space["seed"] == 2 and param_space["lr"] == 0.01
    assert [cfg.n for cfg in trials.configs] == [5]  # the override fixes the searched key
    with pytest.raises(ConfigError, match="hidden"):
        trials_at(spec, "tiny", {"hidden": 0})


def test_the_research_plan_is_a_campaign_of_the_plans_studies_in_order():
    campaign, files = load_campaign(next(p for p in FILES if p.stem == "research_plan"))
    assert [f.stem for f in files] == [
        "multiseed", "opt_steps", "ascent_lr", "noise_scale", "mixed_ratio",
        "dcd_ablation", "ood", "matrix_size", "diffusion_steps",
    ]  # fmt: skip
    assert all(load_space(f).budgets for f in files) and campaign.description
    assert {p.stem for p in FILES if load_campaign(p) is not None} == CAMPAIGNS


def test_a_campaign_naming_a_missing_study_is_an_error(tmp_path):
    path = tmp_path / "plan.py"
    path.write_text(
        'from tune_ired.space import Campaign\nc = Campaign(studies=["here.py", "gone.py"])\n'
    )
    (tmp_path / "here.py").write_text(HEADER + "s = SearchSpace(space={})\n")
    with pytest.raises(SpaceError, match=r"do not exist.*gone\.py"):
        load_campaign(path)
