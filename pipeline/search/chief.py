"""`pipeline tune RECIPE --chief HOST:PORT`: serve the search to workers on any host.

KerasTuner's chief/worker mode underneath: its `OracleServicer` answers the workers' gRPC calls on
HOST:PORT (127.0.0.1 unless told). Three things are added on the same port, because workers on
other hosts cannot read this host's files or stay in step with it otherwise:
- `Job`: the stage a worker should run (the `Job` as JSON, the recipe's hash, a serial per stage
  served), or `wait` between stages, or `done` at the end; workers started before the chief wait.
- `Alive`: each worker says so every `HEARTBEAT_S`. A worker silent for `worker_timeout` seconds
  (killed, its host gone) loses its trial: the trial goes to KerasTuner's retry queue, another
  worker takes it, and its MLflow run is marked KILLED (the dead process could not mark it).
- a worker that asks for a trial while the last ones still run elsewhere is told IDLE, not STOPPED,
  so it stays to take a trial that comes back. The chief runs no trial itself.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from concurrent import futures
from dataclasses import asdict

from pipeline.search.tuner import Job, row
from pipeline.search.workers import chief_oracle

SERVICE = "pipeline.search.Chief"
HEARTBEAT_S = 2.0
IDLE_REPLY_S = 1.0  # KerasTuner's workers ask again at once after IDLE: slow them down here
DONE_GRACE_S = 3.0  # after the last stage, workers still polling are told `done`


class AddressError(ValueError):
    pass


def parse_address(text: str) -> tuple[str, int]:
    """'HOST:PORT', ':PORT' or 'PORT' -> (host, port); the host defaults to 127.0.0.1."""
    host, _, port = text.rpartition(":")
    host = host.strip("[]") or "127.0.0.1"
    if not port.isdigit() or not 0 < int(port) < 65536:
        raise AddressError(f"--chief {text!r}: expected HOST:PORT with a port from 1 to 65535, e.g. 127.0.0.1:8000")
    return host, int(port)


def encode(message: dict) -> bytes:
    return json.dumps(message).encode()


def decode(data: bytes) -> dict:
    return json.loads(data.decode())


class Chief:
    """The oracle of the current stage served on `address`; `run_stage` returns when its trials are done."""

    def __init__(self, address: tuple[str, int], recipe_hash: str, worker_timeout: float, on_lost=None,
                 echo=print):
        self.address = address
        self.recipe_hash = recipe_hash
        self.worker_timeout = worker_timeout
        self.on_lost = on_lost or (lambda job, trial_id, reason: None)  # marks the lost trial's run
        self.echo = echo
        self.lock = threading.Lock()  # every use of the oracle, from gRPC threads and the stage loop
        self.job: Job | None = None
        self.oracle = None
        self.serial = ""
        self.exhausted = False  # the oracle has answered STOPPED: no new trial in this stage
        self.finished = False
        self.seen: dict[str, float] = {}  # tuner id -> when it last called
        self.server = None

    def __enter__(self):
        import grpc
        from keras_tuner.src import protos

        self.server = grpc.server(futures.ThreadPoolExecutor(max_workers=16))
        protos.get_service_grpc().add_OracleServicer_to_server(_servicer(self), self.server)
        handlers = {name: grpc.unary_unary_rpc_method_handler(method, request_deserializer=decode,
                                                              response_serializer=encode)
                    for name, method in (("Job", self._job), ("Alive", self._alive))}
        self.server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(SERVICE, handlers),))
        host, port = self.address
        try:
            bound = self.server.add_insecure_port(f"{host}:{port}")
        except RuntimeError:
            bound = 0
        if not bound:
            raise AddressError(f"--chief {host}:{port}: cannot listen there (port in use, or not this host's address)")
        self.server.start()
        self.echo(f"chief: serving the search on {host}:{port}; start workers with "
                  f"`pipeline tune RECIPE --worker --chief {host}:{port}`", flush=True)
        return self

    def __exit__(self, *exc):
        if exc[0] is None:  # done: tell the workers still asking; interrupted: they wait for a restart
            with self.lock:
                self.finished = True
            time.sleep(DONE_GRACE_S)
        self.server.stop(grace=1).wait()

    def run_stage(self, job: Job):
        """Serve `job` until each of its trials has ended; return its oracle."""
        oracle = chief_oracle(job)
        with self.lock:
            self.job, self.oracle, self.exhausted = job, oracle, False
            self.serial = uuid.uuid4().hex
            now = time.monotonic()
            self.seen = dict.fromkeys(oracle.ongoing_trials, now)
        while True:
            with self.lock:
                if self.exhausted and not oracle.ongoing_trials and not oracle._retry_queue:
                    return oracle
                lost = self._lost_trials()
            for trial_id, reason in lost:
                self.echo(f"chief: trial {trial_id} goes back to the queue: {reason}", flush=True)
                self.on_lost(job, trial_id, reason)
            time.sleep(0.5)

    def _lost_trials(self) -> list[tuple[str, str]]:
        """Trials of workers silent for `worker_timeout`: back to KerasTuner's retry queue (under the lock)."""
        now, lost = time.monotonic(), []
        for tuner_id, trial in list(self.oracle.ongoing_trials.items()):
            silent = now - self.seen.get(tuner_id, now)
            self.seen.setdefault(tuner_id, now)
            if silent > self.worker_timeout:
                del self.oracle.ongoing_trials[tuner_id]
                self.oracle.tuner_ids.discard(tuner_id)
                self.oracle._retry_queue.append(trial.trial_id)
                lost.append((trial.trial_id, f"worker {tuner_id} silent for {silent:.0f} s"))
        if lost:
            self.oracle.save()
        return lost

    def _job(self, request: dict, context) -> dict:
        with self.lock:
            self.seen[request.get("tuner_id", "")] = time.monotonic()
            if self.finished:
                return {"state": "done"}
            if self.job is None:
                return {"state": "wait"}
            return {"state": "job", "serial": self.serial, "recipe_hash": self.recipe_hash,
                    "job": asdict(self.job)}

    def _alive(self, request: dict, context) -> dict:
        with self.lock:
            self.seen[request.get("tuner_id", "")] = time.monotonic()
        return {}


def _servicer(chief: Chief):
    """KerasTuner's servicer for whichever stage is current, under the chief's lock."""
    from keras_tuner.src import protos
    from keras_tuner.src.distribute.oracle_chief import OracleServicer
    from keras_tuner.src.engine import trial as trial_module

    class StageServicer(OracleServicer):
        @property
        def oracle(self):
            return chief.oracle

        @oracle.setter
        def oracle(self, value):  # KerasTuner's __init__ sets it; the chief's stage decides
            pass

        def CreateTrial(self, request, context):
            with chief.lock:
                chief.seen[request.tuner_id] = time.monotonic()
                trial = chief.oracle.create_trial(request.tuner_id)
                if trial.status == trial_module.TrialStatus.STOPPED:
                    chief.exhausted = True
                    if chief.oracle.ongoing_trials:  # one of them may come back: stay
                        trial.status = trial_module.TrialStatus.IDLE
            if trial.status == trial_module.TrialStatus.IDLE:
                time.sleep(IDLE_REPLY_S)
            return protos.get_service().CreateTrialResponse(trial=trial.to_proto())

        def EndTrial(self, request, context):
            ended = trial_module.Trial.from_proto(request.trial)
            with chief.lock:
                known = chief.oracle.trials.get(ended.trial_id)
                if known is None or known.status != trial_module.TrialStatus.RUNNING:
                    return protos.get_service().EndTrialResponse()  # ended already: counted once
                if ended.trial_id in chief.oracle._retry_queue:  # a worker thought lost finished it after all
                    chief.oracle._retry_queue.remove(ended.trial_id)
                chief.oracle.end_trial(ended)
                done = chief.oracle.get_trial(ended.trial_id)
            chief.echo(row(chief.job, done), flush=True)
            return protos.get_service().EndTrialResponse()

    def locked(method):
        def call(self, request, context):
            with chief.lock:
                return method(self, request, context)
        return call

    for name in ("UpdateTrial", "GetTrial", "GetSpace", "UpdateSpace", "GetBestTrials"):  # the rest, as they are
        setattr(StageServicer, name, locked(getattr(OracleServicer, name)))
    return StageServicer(None)
