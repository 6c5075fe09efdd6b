"""Slowdown of argn's fit on adult when a second identical fit runs at the same time
(run: python tests/bench/bench_contention.py). Not collected by pytest.

For each thread policy, one fit runs alone, then two identical fits run at once, each in its
own process (the data read and torch imported first; the fits start together). The slowdown
factor is a concurrent fit's wall-clock seconds (the mean of the two) over the lone fit's.
Two jobs on two cores cannot do better than about 2x when the lone fit uses both cores; the
goal is under 2.5x.

Policies (``--threads``):

- ``torch-default``: the behaviour before issue 17: torch's own thread count (one per core)
  and OpenMP's default wait policy (idle threads spin before they sleep).
- ``auto``: what a process gets now: ``OMP_WAIT_POLICY=PASSIVE`` set before torch loads
  (``prepare_process_threads``, as the CLI does) and ``num_threads=None``, i.e. the CPUs the
  process may use (affinity and cgroup quota). The two fits do not know of each other.
- ``per-job``: a worker running both jobs: each gets ``default_threads(jobs=2)`` threads
  (``OMP_NUM_THREADS``, as ``workers.threads`` sets it), and the passive wait policy.

Prints one table: policy, the lone fit's seconds, the two concurrent fits' seconds, the
slowdown factor, and the load average (1 minute) before each measurement. Wall-clock time on
a shared machine stretches with the load: run it when nothing else is running.
Usage: python tests/bench/bench_contention.py [--threads all|torch-default|auto|per-job] [--epochs 3]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
ADULT = Path(os.environ.get("DOPPEL_DATASETS", "/work/shared/datasets")) / "adult.csv"
POLICIES = ("torch-default", "auto", "per-job")


def child(policy: str, epochs: int) -> None:
    """One fit: set up threads as ``policy`` says, load, say ``ready``, wait for ``go``, fit, print seconds."""
    if str(REPO) not in sys.path:
        sys.path.insert(0, str(REPO))
    from engine.cpus import default_threads
    from engine.models.threads import prepare_process_threads

    if policy == "auto":
        prepare_process_threads()
    elif policy == "per-job":
        prepare_process_threads(threads=default_threads(jobs=2))
    import torch

    import engine

    frame = engine.read(ADULT)
    num_threads = torch.get_num_threads() if policy == "torch-default" else None  # torch's own count, as before
    print("ready", flush=True)
    sys.stdin.readline()
    started = time.perf_counter()
    model = engine.train(frame, model="argn", seed=0, epochs=epochs, device="cpu", num_threads=num_threads)
    wall = time.perf_counter() - started
    print(json.dumps({"fit_s": wall, "epochs_run": model.metrics_.get("epochs_run"),
                      "torch_threads": num_threads or default_threads(),
                      "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY", "default")}), flush=True)


def _environment(policy: str) -> dict[str, str]:
    env = dict(os.environ)
    if policy == "torch-default":  # the old behaviour: nothing set for OpenMP
        env.pop("OMP_WAIT_POLICY", None)
        env.pop("OMP_NUM_THREADS", None)
    return env


def run_fits(policy: str, *, copies: int, epochs: int) -> list[dict[str, float]]:
    """``copies`` fits at once, each in its own process; their results."""
    command = [sys.executable, __file__, "--child", policy, "--epochs", str(epochs)]
    processes = [subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                                  env=_environment(policy), cwd=REPO) for _ in range(copies)]
    for process in processes:  # everyone loaded before anyone fits
        line = process.stdout.readline()  # type: ignore[union-attr]
        if line.strip() != "ready":
            raise RuntimeError(f"fit process did not start: {line!r}")
    for process in processes:
        process.stdin.write("go\n")  # type: ignore[union-attr]
        process.stdin.flush()  # type: ignore[union-attr]
    results = []
    for process in processes:
        out, _ = process.communicate()
        if process.returncode != 0:
            raise RuntimeError(f"fit process failed ({process.returncode})")
        results.append(json.loads(out.strip().splitlines()[-1]))
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", choices=("all", *POLICIES), default="all", help="thread policy (default: all three)")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--child", choices=POLICIES, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.epochs)
        return

    policies = POLICIES if args.threads == "all" else (args.threads,)
    rows = []
    for policy in policies:
        load_alone = os.getloadavg()[0]
        alone = run_fits(policy, copies=1, epochs=args.epochs)[0]
        load_pair = os.getloadavg()[0]
        pair = run_fits(policy, copies=2, epochs=args.epochs)
        mean_pair = sum(r["fit_s"] for r in pair) / len(pair)
        rows.append((policy, alone, pair, mean_pair / alone["fit_s"], load_alone, load_pair))
        print(f"{policy}: alone {alone['fit_s']:.1f} s, two at once {pair[0]['fit_s']:.1f} / {pair[1]['fit_s']:.1f} s",
              file=sys.stderr, flush=True)

    affinity = len(os.sched_getaffinity(0))
    print(f"argn fit on adult ({args.epochs} epochs, default settings), {affinity} CPUs; "
          f"slowdown = mean concurrent fit / lone fit (goal < 2.5x)")
    print(f"{'policy':<15}{'threads':>8}{'wait':>9}{'alone s':>9}{'fit 1 s':>9}{'fit 2 s':>9}{'slowdown':>10}"
          f"{'load₁ alone':>13}{'load₁ pair':>12}")
    for policy, alone, pair, factor, load_alone, load_pair in rows:
        print(f"{policy:<15}{pair[0]['torch_threads']:>8}{pair[0]['omp_wait_policy'][:8]:>9}{alone['fit_s']:>9.1f}"
              f"{pair[0]['fit_s']:>9.1f}{pair[1]['fit_s']:>9.1f}{factor:>9.2f}x{load_alone:>13.2f}{load_pair:>12.2f}")
    print(f"load average after: {' / '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
