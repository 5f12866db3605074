#!/usr/bin/env bash
# System set-up for CI (.ci/run calls it before `pip install` and `pytest`); needs root and apt.
#
#   bash cluster/ci_system_setup.sh           # what .ci/run calls: install, then start SLURM
#   bash cluster/ci_system_setup.sh --help    # this usage; does nothing (an unknown argument: exit 2)
#
# Installs the Debian packages the tests need: SLURM and munge for the cluster tests
# (tests/test_cluster.py), Chromium for the report's browser test and for static figure export
# (kaleido drives it), and poppler-utils (pdftoppm) to check the exported PDFs; then starts the local
# SLURM (cluster/slurm_local.sh: partitions `solo` and `duo`) in the background, where pytest's
# `sbatch` calls land. Idempotent and quick when already done: installed packages are not
# fetched again and running daemons are kept.
set -euo pipefail
cd "$(dirname "$0")/.."

case "${1:-}" in
    "") ;;
    -h | --help)
        echo "usage: bash $0   (root: installs the test's system packages, starts the local SLURM)"
        exit 0
        ;;
    *)
        echo "usage: bash $0   (no arguments; --help for this line)" >&2
        exit 2
        ;;
esac

PACKAGES=(slurmctld slurmd slurm-client slurm-wlm-basic-plugins munge chromium poppler-utils)
APT_LOCK_WAIT_S=300   # another apt run (a parallel job) may hold the dpkg lock for a while

started=$SECONDS
missing=()
for package in "${PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q 'install ok installed' || missing+=("$package")
done
if ((${#missing[@]})); then
    echo "ci_system_setup: installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get -o DPkg::Lock::Timeout="$APT_LOCK_WAIT_S" update -qq
    apt-get -o DPkg::Lock::Timeout="$APT_LOCK_WAIT_S" install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
bash cluster/slurm_local.sh start
echo "ci_system_setup: done in $((SECONDS - started)) s"
