"""`pipeline tune RECIPE --worker --chief HOST:PORT`: take trials from a chief, on any host.

The worker asks the chief (pipeline/search/chief.py) for the current stage, runs it as a KerasTuner
worker (`KERASTUNER_TUNER_ID` = this host and process unless set), logs each trial as a nested run
to the shared tracking server, and asks again until the chief says the search is done. Every call
waits for the chief (started later, or restarted with `--resume`) up to `CHIEF_WAIT_S`; a thread
tells the chief every few seconds that this worker is alive, so a dead one's trial goes to another.
"""

from __future__ import annotations

import json
import os
import socket
import sys
import threading
import time

from pipeline.search.chief import HEARTBEAT_S, SERVICE, decode, encode
from pipeline.search.tuner import Job

CHIEF_WAIT_S = 600.0  # how long a worker waits for a chief that does not answer
POLL_S = 1.0  # between stages


class WrongRecipe(RuntimeError):
    """The chief searches another recipe than the worker was given."""


def tuner_id() -> str:
    """KERASTUNER_TUNER_ID, else host-pid ('chief' in an id makes KerasTuner treat it as the chief)."""
    return os.environ.get("KERASTUNER_TUNER_ID") or f"{socket.gethostname()}-{os.getpid()}".replace("chief", "chf")


def channel(address: str):
    """A gRPC channel whose calls wait for the chief instead of failing while it is away, and are sent
    again when it went away mid-call (the chief answers a repeated call as the first: same trial)."""
    import grpc

    retry = {"maxAttempts": 5, "initialBackoff": "1s", "maxBackoff": "30s", "backoffMultiplier": 2,
             "retryableStatusCodes": ["UNAVAILABLE"]}
    config = {"methodConfig": [{"name": [{}], "waitForReady": True, "timeout": f"{CHIEF_WAIT_S:.0f}s",
                                "retryPolicy": retry}]}
    return grpc.insecure_channel(address, options=[("grpc.service_config", json.dumps(config))])


def work(address: str, recipe_hash: str, directory: str, tracking_uri: str | None, echo=print) -> int:
    """Run the chief's stages until it says done; 0 then, 1 if the chief stayed away `CHIEF_WAIT_S`."""
    import grpc

    me = tuner_id()
    chan = channel(address)
    ask = chan.unary_unary(f"/{SERVICE}/Job", request_serializer=encode, response_deserializer=decode)
    alive = chan.unary_unary(f"/{SERVICE}/Alive", request_serializer=encode, response_deserializer=decode)
    stop = threading.Event()

    def beat():
        while not stop.wait(HEARTBEAT_S):
            try:
                alive({"tuner_id": me}, timeout=HEARTBEAT_S)
            except grpc.RpcError:
                pass  # the chief is away; the trial goes on

    threading.Thread(target=beat, daemon=True, name="chief-heartbeat").start()
    os.environ.update(KERASTUNER_ORACLE_IP=address.rpartition(":")[0].strip("[]"),
                      KERASTUNER_ORACLE_PORT=address.rpartition(":")[2], KERASTUNER_TUNER_ID=me)
    echo(f"worker {me}: asking {address} for trials", flush=True)
    done_serial = None
    try:
        while True:
            reply = ask({"tuner_id": me}, timeout=CHIEF_WAIT_S)
            if reply["state"] == "done":
                echo(f"worker {me}: the search is done", flush=True)
                return 0
            if reply["state"] == "wait" or reply["serial"] == done_serial:
                time.sleep(POLL_S)
                continue
            if reply["recipe_hash"] != recipe_hash:
                raise WrongRecipe(f"the chief on {address} searches another recipe (hash {reply['recipe_hash']}, "
                                  f"this one {recipe_hash}): start the worker with the chief's recipe and --set values")
            run_stage(Job(**reply["job"]), chan, directory, tracking_uri)
            done_serial = reply["serial"]
    except grpc.RpcError as exc:  # no chief answered within CHIEF_WAIT_S (or it refused the call)
        echo(f"worker {me}: no answer from the chief on {address} ({exc.code().name}, "
             f"waited up to {CHIEF_WAIT_S:.0f} s)", file=sys.stderr)
        return 1
    finally:
        stop.set()


def run_stage(job: Job, chan, directory: str, tracking_uri: str | None) -> None:
    """KerasTuner's worker loop for one stage, its trials kept under this host's `directory`."""
    from keras_tuner.src import protos

    from pipeline.search.tuner import tuner_class

    job.directory = directory
    job.tracking_uri = tracking_uri or job.tracking_uri
    tuner = tuner_class()(job)  # an OracleClient: KERASTUNER_ORACLE_IP is set
    tuner.oracle.stub = protos.get_service_grpc().OracleStub(chan)  # calls that wait for a restarted chief
    tuner.search(verbose=0)
