#!/usr/bin/env bash
# Creates (once) the throwaway "judge" virtual environment that holds sdmetrics 0.32 (MIT),
# the reference implementation our quality metrics are cross-checked against.
#
# Why a separate venv: sdmetrics 0.32 needs pandas<3 and, through its metadata, pulls
# `copulas` (Business Source License), which must never be installed in the project venv.
# sdmetrics is installed here with --no-deps next to the few libraries its single-table
# metrics import; copulas is NOT installed (the metric modules we call import without it,
# which this script checks).
#
# Usage: bash tests/judge/ensure_judge_venv.sh [VENV_DIR]   (default: <repo>/.venv-judge)
# Idempotent: exits at once when the venv exists and passes the import check.
set -euo pipefail

REPO="$(cd "$(dirname "$0")/../.." && pwd)"
VENV="${1:-$REPO/.venv-judge}"
PYTHON="${PYTHON:-python3}"

check() {
  "$VENV/bin/python" - "$REPO/tests/judge/sdmetrics_judge.py" <<'PY'
import importlib.metadata, importlib.util, runpy, sys
assert importlib.metadata.version("sdmetrics") == "0.32.0", importlib.metadata.version("sdmetrics")
assert importlib.util.find_spec("copulas") is None, "copulas must not be installed in the judge venv"
judge = runpy.run_path(sys.argv[1])
judge["_load_metrics"]()
assert "copulas" not in sys.modules
PY
}

if [ -x "$VENV/bin/python" ] && check >/dev/null 2>&1; then
  exit 0
fi

echo "creating the judge venv at $VENV (sdmetrics 0.32.0 without copulas)" >&2
rm -rf "$VENV"
"$PYTHON" -m venv "$VENV"
"$VENV/bin/python" -m pip install --quiet --upgrade pip
"$VENV/bin/python" -m pip install --quiet "pandas<3" numpy scipy scikit-learn plotly tqdm pyarrow
"$VENV/bin/python" -m pip install --quiet --no-deps "sdmetrics==0.32.0"
check
echo "judge venv ready: $VENV" >&2
