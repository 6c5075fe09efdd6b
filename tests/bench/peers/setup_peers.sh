#!/usr/bin/env bash
# Creates (once) the throwaway "peers" virtual environment in which the quality benchmark
# (tests/bench/bench_quality.py) runs the libraries Doppel is compared with:
#   - SDV 2.0.0 (GaussianCopula, CTGAN, TVAE; brings ctgan, rdt, copulas, sdmetrics)
#   - mostlyai-engine 2.7.3 (TabularARGN)
#
# Licences: SDV, ctgan, rdt and copulas are under the Business Source License. They are
# allowed ONLY here, in a venv that exists to run a benchmark; nothing in Doppel imports them
# and they never enter the project venv. The peer runner (tests/bench/peers/run_peer.py)
# is executed by this venv's interpreter in a subprocess and exchanges Parquet files only.
#
# Why the steps are in this order:
#   1. torch 2.13.0 first: the CPU build lies on this machine's disk (pip's constraints file
#      caps torch); installing it before anything else keeps pip from resolving a CUDA build.
#   2. sdv==2.0.0 with its dependencies (it accepts the installed torch).
#   3. mostlyai-engine 2.7.3 with --no-deps: its metadata pins torchaudio/torchvision builds
#      that conflict with torch 2.13 and pulls LLM-mode packages (vllm, peft, xgrammar, ...).
#      Its tabular path (TabularARGN fit/sample) needs only the packages listed below: the
#      package's __init__ imports its language interface, hence transformers and datasets.
#
# Usage: bash tests/bench/peers/setup_peers.sh [VENV_DIR]    (default: <repo>/.venv-peers)
# Idempotent: exits at once when the venv exists and passes the import check.
set -euo pipefail

REPO="$(cd "$(dirname "$0")/../../.." && pwd)"
VENV="${1:-$REPO/.venv-peers}"
PYTHON="${PYTHON:-python3}"

check() {
  "$VENV/bin/python" - <<'PY'
import importlib.metadata as md
assert md.version("sdv") == "2.0.0", md.version("sdv")
assert md.version("mostlyai-engine") == "2.7.3", md.version("mostlyai-engine")
assert md.version("torch").startswith("2.13."), md.version("torch")
import torch
assert not torch.version.cuda, "a CUDA torch build was installed; this venv must hold the CPU build"
from sdv.single_table import CTGANSynthesizer, GaussianCopulaSynthesizer, TVAESynthesizer  # noqa: F401
from mostlyai.engine import TabularARGN  # noqa: F401
PY
}

if [ -x "$VENV/bin/python" ] && check >/dev/null 2>&1; then
  exit 0
fi

echo "creating the peers venv at $VENV (SDV 2.0.0, mostlyai-engine 2.7.3; benchmark only)" >&2
rm -rf "$VENV"
"$PYTHON" -m venv "$VENV"
PIP=("$VENV/bin/python" -m pip install --quiet)
"${PIP[@]}" --upgrade pip
"${PIP[@]}" "torch==2.13.0"
"${PIP[@]}" "sdv==2.0.0"
"${PIP[@]}" --no-deps "mostlyai-engine==2.7.3"
# the tabular path's imports (found by importing mostlyai.engine and running TabularARGN
# fit/sample on an adult sample); pip may warn that the engine's LLM extras are missing.
log="$("${PIP[@]}" "transformers>=5.5.3" "datasets>=3.0.0" "opacus>=1.6.0" "pydantic>=2" \
  "psutil>=5.9.5,<6" "pyarrow>=16.0.0" "joblib>=1.4.2" 2>&1)" || { echo "$log" >&2; exit 1; }
echo "$log" | grep -v -e "mostlyai-engine 2.7.3 requires" -e "is ignored" >&2 || true
check
echo "peers venv ready: $VENV" >&2
