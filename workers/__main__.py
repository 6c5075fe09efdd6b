"""``python -m workers``: one worker process for the named queue families or queues.

    python -m workers                         # gpu and cpu, DOPPEL_WORKER_THREADS threads
    python -m workers --queues gpu            # a GPU host
    python -m workers --queues gpu.enterprise # a pool dedicated to one tier
    python -m workers --queues cpu --threads 4

A family name means all of its queues, the higher tiers first (``infra.jobs.routing``). The
process runs Dramatiq's ``Worker`` in-process (no forking), so killing it stops all of its
jobs; run several processes (or ``dramatiq workers.tasks -Q gpu --processes N``) for more.
SIGTERM and SIGINT stop it gracefully: running training jobs are interrupted and resumed by
another worker from their last checkpoint.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading

import dramatiq

from infra.jobs.routing import FAMILIES, expand_queues
from infra.settings import get_settings


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m workers", description=__doc__.split("\n\n")[0])
    parser.add_argument("--queues", "-Q", nargs="+", default=list(FAMILIES),
                        help="queue families (gpu, cpu) or queues (gpu.enterprise, ...); default: gpu cpu")
    parser.add_argument("--threads", "-t", type=int, default=None,
                        help="jobs run at once (default: DOPPEL_WORKER_THREADS)")
    parser.add_argument("--log-level", default="INFO")
    args = parser.parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(),
                        format="%(asctime)s %(process)d %(threadName)s %(name)s %(levelname)s %(message)s")

    if not get_settings().broker_url:
        parser.error("DOPPEL_BROKER_URL is not set: without a broker the app runs jobs in its own process, "
                     "and a separate worker would receive nothing; set DOPPEL_BROKER_URL=redis://host:6379/0")
    from workers.tasks import broker  # declares the actors

    queues = expand_queues(args.queues)
    threads = args.threads or get_settings().worker_threads
    broker.emit_after("process_boot")
    worker = dramatiq.Worker(broker, queues=set(queues), worker_threads=threads)
    # Fetch no more messages per queue than there are threads (Dramatiq's default is twice as
    # many): a message fetched but waiting behind an hours-long training is one no idle worker
    # can take. The CLI equivalent is the environment variable dramatiq_queue_prefetch.
    worker.queue_prefetch = threads
    worker.start()
    logging.getLogger("workers").info("worker %s consuming %s with %d thread(s)", id(worker), ", ".join(queues), threads)

    stopping = threading.Event()

    def stop(signum: int, _frame: object) -> None:
        stopping.set()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    while not stopping.wait(1.0):
        pass
    worker.stop()
    broker.emit_before("process_stop")
    broker.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
