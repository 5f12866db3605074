"""Time estimates (issue 22): the arithmetic, the calibration cache, the GPU model, the expected end,
the SLURM request's parsing and the rule that a long run without --budget is not started unasked."""

from __future__ import annotations

import dataclasses
import json
from datetime import datetime

import pytest

from tune_ired import sweep
from tune_ired.cli import ExitCode
from tune_ired.ired.config import make_config
from tune_ired.record.estimate import (
    Estimate,
    Progress,
    duration_text,
    expected_end,
    makespan,
    remaining_s,
)
from tune_ired.tuning import costs, submit
from tune_ired.tuning.arguments import parse_args
from tune_ired.tuning.plan import plan_sweep
from tune_ired.tuning.resources import trials_at_once
from tune_ired.tuning.validate import SpaceError

TINY_SPACE = """from ray import tune
from tune_ired.space import Budget, SearchSpace

grid = SearchSpace(
    space={"noise_scale": tune.grid_search([0.5, 1.0, 2.0])},
    scheduler=None,
    budgets={"tiny": Budget(config={"train_steps": 40, "eval_every": 20})},
)
"""


@pytest.fixture(autouse=True)
def own_cache(tmp_path, monkeypatch):
    """Each test calibrates into its own cache file."""
    monkeypatch.setenv(costs.CACHE_VARIABLE, str(tmp_path / "step-costs.json"))


def estimate(seconds, *, at_once=2, first=None):
    return Estimate(
        seconds=seconds,
        first_rung=first or seconds,
        step_s=[1.0] * len(seconds),
        at_once=at_once,
        start_s=10.0,
        units_per_trial=1.0,
        unit="CPU core",
        basis="test",
    )


def test_makespan_fills_the_first_free_slot_in_order():
    assert makespan([3, 3, 3], 2) == 6
    assert makespan([5, 1, 1, 1], 2) == 5
    assert makespan([1, 1], 4) == 1
    assert makespan([2], 1, busy=[4]) == 6  # one slot, busy for 4 more seconds
    assert makespan([], 3, busy=[7, 2]) == 7


def test_wall_time_device_hours_and_the_asha_range():
    est = estimate([3600, 3600, 3600], first=[600, 600, 600])
    assert est.wall() == 10 + 7200 and est.wall(first_rung=True) == 10 + 1200
    assert est.device_hours() == pytest.approx(3.0)
    assert dataclasses.replace(est, at_once=None).wall() is None
    assert Estimate.from_json(est.to_json()) == est and Estimate.from_json({"x": 1}) is None


def test_durations_read_as_a_person_says_them():
    assert [duration_text(s) for s in (45, 600, 3 * 3600, 5 * 86400)] == [
        "45 s",
        "10 min",
        "3.0 h",
        "5.0 days",
    ]


def test_the_expected_end_follows_the_observed_speed():
    est = estimate([100.0, 100.0, 100.0], at_once=1)
    running_twice_as_slow = Progress(
        index=0, step=50, train_steps=100, from_step=0, elapsed_s=100.0, ended=False
    )
    # 50 steps left at 2 s each, then two trials of 100 s each taking twice as long
    assert remaining_s(est, [running_twice_as_slow]) == pytest.approx(100 + 2 * 200)
    done = dataclasses.replace(running_twice_as_slow, step=100, elapsed_s=200.0, ended=True)
    assert remaining_s(est, [done]) == pytest.approx(2 * 200)
    line = expected_end(est, [done], now=datetime.now().astimezone())
    assert line.startswith("expected end: ") and "(in 7 min)" in line


def test_trials_at_once_on_nodes():
    resources = {"cpu": 1, "gpu": 0}
    assert trials_at_once([(2, 0)], resources, trials=6, limit=0) == 2
    assert trials_at_once([(2, 0)], resources, trials=6, limit=1) == 1
    assert trials_at_once([(32, 4)] * 2, {"cpu": 4, "gpu": 0.5}, trials=100, limit=0) == 16
    assert trials_at_once([(8, 0)], {"cpu": 1, "gpu": 0}, trials=3, limit=0) == 3


def test_a_calibration_is_cached_per_shape_and_reused(tmp_path):
    cfg = make_config({"num_threads": 1}, budget="tiny")
    first = costs.Costs(echo=lambda *a, **k: None)
    cost = first.cost(cfg)
    first.save()
    assert cost.step_s > 0 and cost.eval_s > 0 and cost.basis.startswith("calibrated on cpu")
    cached = json.loads(costs.cache_path().read_text())
    assert len(cached) == 1
    seen = []
    again = costs.Costs(echo=lambda *a, **k: seen.append(a))
    assert again.cost(cfg) == cost and not seen  # read back, not timed again
    again.cost(dataclasses.replace(cfg, hidden=32))  # another shape: timed
    assert seen


def test_a_gpu_this_machine_lacks_is_modelled_and_says_so():
    cfg = make_config({"device": "cuda", "num_seeds": 10}, budget="paper")
    cost = costs.Costs(gpu="a100").elsewhere(cfg)
    assert "modelled for an A100" in cost.basis
    flops = sum(costs.step_flops(cfg).values())
    rate = costs.DEVICE_RATES["A100"]["fp32"] * 1e12 * costs.MODEL_EFFICIENCY
    assert cost.step_s == pytest.approx(flops / rate + costs.STEP_LAUNCH_S)
    assert costs.model_gpu("NVIDIA H200") == "H200" and costs.model_gpu(None) == costs.DEFAULT_GPU


def test_step_flops_count_the_mining_chain_of_each_strategy():
    flops = {
        strategy: costs.step_flops(make_config({"strategy": strategy}, budget="quick"))["mining"]
        for strategy in ("none", "random", "adversarial", "ascent", "mixed")
    }
    assert flops["none"] == flops["random"] == 0
    assert flops["adversarial"] == flops["ascent"] > 0
    assert flops["mixed"] == pytest.approx(0.3 * flops["adversarial"], rel=1e-3)


def test_a_dry_run_prints_each_trial_s_estimate_and_the_total(tmp_path, capsys):
    space = tmp_path / "grid.py"
    space.write_text(TINY_SPACE)
    argv = [str(space), "--budget", "tiny", "--storage", str(tmp_path), "--dry-run"]
    assert sweep.main(argv) == ExitCode.OK
    out = capsys.readouterr().out
    assert "estimate: 3 trials, 2 at once; wall time" in out and "CPU core-hours" in out
    assert "step costs calibrated on cpu" in out


def test_a_long_run_without_budget_is_not_started_unasked(tmp_path, capsys, monkeypatch):
    space = tmp_path / "grid.py"
    space.write_text(TINY_SPACE.replace('"tiny": Budget', '"paper": Budget(), "tiny": Budget'))
    monkeypatch.setattr(costs, "LONG_RUN_S", 1.0)  # the tiny budget is seconds, not an hour
    args = parse_args([str(space), "--storage", str(tmp_path)])
    plan = plan_sweep(args)
    assert plan.budget == "paper"
    assert costs.unasked_long_run(args, plan.spec, "paper", 3.0, "sweep x")  # stdin is no terminal
    err = capsys.readouterr().err
    assert "not started unasked" in err and "--budget paper" in err
    given = parse_args([str(space), "--storage", str(tmp_path), "--budget", "paper"])
    assert not costs.unasked_long_run(given, plan.spec, "paper", 3.0, "sweep x")


@pytest.mark.parametrize(
    "text, seconds",
    [("90", 5400), ("4:00:00", 14400), ("10:30", 630), ("1-12", 129600), ("0-1:2:3", 3723)],
)
def test_slurm_times(text, seconds):
    assert submit.parse_time(text) == seconds


def test_a_slurm_request_is_read_with_the_script_s_defaults():
    request = submit.parse_request("-N 2 -c 8 --gpus-per-node=h100:4 -t 24:00:00 -p gpu")
    assert (request.nodes, request.cpus, request.gpus, request.gpu_type) == (2, 8, 4, "h100")
    assert request.time_s == 86400 and request.partition == "gpu"
    plain = submit.parse_request("")
    assert (plain.nodes, plain.cpus, plain.gpus, plain.time_s) == (1, 2, 0, 4 * 3600)
    assert plain.output == "ray_sweep-%j.out"
    assert submit.parse_request("--gres=gpu:a100:2 -N 1").gpus == 2
    with pytest.raises(SpaceError, match="not a SLURM time"):
        submit.parse_request("-t soon")


def test_a_time_limit_too_short_refuses_a_sweep_and_plans_a_campaign():
    request = submit.parse_request("-t 10")
    assert submit.time_words(request, 60.0, campaign=False)[0].startswith("time: fits")
    with pytest.raises(SpaceError, match="more than -t 10 min"):
        submit.time_words(request, 3600.0, campaign=False)
    (plan,) = submit.time_words(request, 3600.0, campaign=True)
    # 3600 s x 1.25 + the job's start, in jobs of 10 min less the job's start
    assert "about 10 jobs" in plan and "--resume" in plan
