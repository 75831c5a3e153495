"""`pipeline export RUN_ID --format keras|saved_model|onnx [--out PATH]`: a run's model for other runtimes.

The run's `model/model.keras` (the network with its fitted preprocessing in front: it takes raw
inputs and returns the network's outputs, e.g. logits) written through Keras' own `model.save` or
`model.export`, on the backend Keras runs on here (`KERAS_BACKEND`, default jax). A `.keras` file
loads on any backend, so a format this backend cannot write is written by running the command on
one that can (`FORMATS` says which, and what each needs installed).
"""

from __future__ import annotations

import sys
from pathlib import Path

from pipeline.exit_codes import EXIT_FAILED, EXIT_OK, EXIT_USAGE

#: format -> {backend: the Python packages Keras needs to write it there}
FORMATS: dict[str, dict[str, tuple[str, ...]]] = {
    "keras": {"jax": (), "tensorflow": (), "torch": ()},
    "saved_model": {"jax": ("tensorflow",), "tensorflow": ()},  # jax: through jax2tf
    "onnx": {"tensorflow": ("tf2onnx", "onnx"), "jax": ("jax2onnx",), "torch": ("onnxscript",)},
}
SUFFIX = {"keras": ".keras", "saved_model": "", "onnx": ".onnx"}
KERAS_FORMAT = {"saved_model": "tf_saved_model", "onnx": "onnx"}  # `model.export(format=...)`


def add_commands(sub) -> None:
    p = sub.add_parser("export", help="write a run's model as .keras, a TensorFlow SavedModel or ONNX",
                       description="Write the model of an MLflow run (its model/model.keras: raw inputs in, the "
                                   "network's outputs out) in another format, with Keras' own save/export on the "
                                   "backend Keras runs on here (KERAS_BACKEND, default jax). keras: every backend; "
                                   "saved_model: jax, tensorflow; onnx: tensorflow (tf2onnx), jax (jax2onnx), "
                                   "torch.")
    p.add_argument("run_id", help="the MLflow run id (`pipeline runs` lists them)")
    p.add_argument("--format", choices=list(FORMATS), default="keras", help="default: keras")
    p.add_argument("--out", help="file (folder for saved_model) to write; default: <run id>[.keras|.onnx] here")
    p.add_argument("--tracking-uri", help="MLflow store (default: $MLFLOW_TRACKING_URI or sqlite:///mlruns/mlflow.db)")
    p.set_defaults(handler=_export)


def unsupported(fmt: str, backend: str) -> str | None:
    """Why `fmt` cannot be written on `backend` here (naming a backend that can), or None."""
    from importlib.util import find_spec

    needs = FORMATS[fmt]
    missing = [p for p in needs.get(backend, ()) if find_spec(p) is None]
    if backend in needs and not missing:
        return None
    ready = [b for b, packages in needs.items() if b != backend and all(find_spec(p) for p in packages)]
    why = (f"needs {', '.join(missing)} on the {backend} backend (not installed)" if backend in needs
           else f"cannot be written on the {backend} backend")
    packages = sorted({p for ps in needs.values() for p in ps})
    hint = (f"; the {ready[0]} backend can: KERAS_BACKEND={ready[0]} pipeline export ... --format {fmt}" if ready
            else f"; backends that can: {', '.join(needs)} (with {', '.join(packages)})")
    return f"format {fmt} {why}{hint}"


def close_run_ids(uri: str, wanted: str) -> list[str]:
    """Run ids of the store that start with `wanted` or look like it (a typo)."""
    import difflib

    from pipeline.tracking import runs

    known = [r.run_id for r in runs.list_runs(uri, limit=1000)]
    prefixed = [r for r in known if wanted and r.startswith(wanted)]
    return (prefixed or difflib.get_close_matches(wanted, known, n=3, cutoff=0.6))[:3]


def export_model(source: Path, fmt: str, out: Path) -> None:
    """Load the `.keras` file `source` (plugin classes registered) and write it to `out` as `fmt`."""
    from pipeline.saving import load_model

    import numpy as np

    model = load_model(source, compile=False)
    if fmt == "keras":
        from pipeline.keras_compat import save_model  # no TensorFlow import on another backend

        save_model(model, out)
        return
    (spec,) = model.inputs  # a reloaded model was never called, which ONNX export on TensorFlow refuses
    model(np.zeros((1, *spec.shape[1:]), dtype=spec.dtype))
    model.export(str(out), format=KERAS_FORMAT[fmt], verbose=False)


def _export(args) -> int:
    import tempfile

    from pipeline import backend as backends
    from pipeline import tracking
    from pipeline.tracking import runs, store

    uri = tracking.tracking_uri(args.tracking_uri)
    store.check(uri, write=False)  # a damaged store: exit 2, at once
    try:
        run = runs.get_run(uri, args.run_id)
    except LookupError as exc:
        close = close_run_ids(uri, args.run_id)
        print(f"error: {exc}" + (f"; did you mean {' or '.join(close)}?" if close else
                                 " (`pipeline runs` lists the runs)"), file=sys.stderr)
        return EXIT_USAGE
    backend = backends.resolve(None)
    problem = unsupported(args.format, backend)
    if problem:
        print(f"error: {problem}", file=sys.stderr)
        return EXIT_USAGE
    out = Path(args.out or f"{run.run_id}{SUFFIX[args.format]}")
    if args.format == "keras" and out.suffix != ".keras":
        print(f"error: --out {out}: a Keras model file must end in .keras", file=sys.stderr)
        return EXIT_USAGE
    if out.exists():
        print(f"error: --out {out} exists; name a new path", file=sys.stderr)
        return EXIT_USAGE
    with tempfile.TemporaryDirectory() as tmp:
        try:
            source = runs.download(uri, run.run_id, "model/model.keras", tmp)
        except FileNotFoundError:
            print(f"error: run {run.run_id} logged no model (model/model.keras): it ended "
                  f"{run.status}" + (" with track.log_model: false" if run.params.get("track.log_model") == "False"
                                     else ""), file=sys.stderr)
            return EXIT_USAGE
        backends.activate(backend)
        try:
            export_model(source, args.format, out)
        except Exception as exc:  # Keras' exporters: an op without a conversion, a dtype policy ONNX refuses
            print(f"error: exporting run {run.run_id} as {args.format} on the {backend} backend failed: "
                  f"{type(exc).__name__}: {exc}", file=sys.stderr)
            return EXIT_FAILED
    print(f"{out}: the model of run {run.run_id} as {args.format} (written on the {backend} backend)")
    return EXIT_OK
