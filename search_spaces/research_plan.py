"""The whole research plan as one campaign, in the order the research needs its answers.

    python -m tune_ired.sweep search_spaces/research_plan.py --budget quick          # minutes per study on a CPU
    sbatch -N 4 -c 32 --gpus-per-node=4 -t 48:00:00 cluster/ray_sweep.sbatch \\
        search_spaces/research_plan.py --budget paper --gpus-per-trial 0.5          # one allocation
    python -m tune_ired.report results/research_plan --landscape                     # index, reports, landscapes

First the question itself (none vs random vs adversarial, ten seeds each), then the mining
knobs one at a time, then the corrected DCD variant (each CD arm also with energy_l2), then
how the answer holds out of distribution, across matrix sizes and diffusion steps. The
energy landscapes of every study (plan item Q-010) come from the campaign report.
"""

from tune_ired.space import Campaign

research_plan = Campaign(
    description="does adversarial negative mining help IRED invert matrices? the whole plan",
    studies=[
        "multiseed.py",
        "opt_steps.py",
        "ascent_lr.py",
        "noise_scale.py",
        "mixed_ratio.py",
        "dcd_ablation.py",
        "ood.py",
        "matrix_size.py",
        "diffusion_steps.py",
    ],
)
