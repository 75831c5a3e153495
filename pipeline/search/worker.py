"""A search worker: `python -m pipeline.search.worker JOB.json`, with KERASTUNER_TUNER_ID,
KERASTUNER_ORACLE_IP and KERASTUNER_ORACLE_PORT naming itself and the chief it takes trials from."""

from __future__ import annotations

import os
import sys

from pipeline.plugins import load_plugins
from pipeline.search import interrupt
from pipeline.search.tuner import Job, tuner_class
from pipeline.search.workers import wait_ready


def main(argv: list[str]) -> int:
    interrupt.install()  # the running trial is marked KILLED, resumable

    job = Job.load(argv[0])
    os.environ["KERAS_BACKEND"] = job.base["backend"]

    load_plugins()
    tuner = tuner_class()(job)  # imports Keras and KerasTuner while the MLflow server starts
    if job.tracking_uri and job.tracking_uri.startswith("http"):
        wait_ready(job.tracking_uri)
    try:
        tuner.search(verbose=0)
    except KeyboardInterrupt:
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
