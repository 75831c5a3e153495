"""The `pipeline` command: run | validate | show | plugins | catalogue | reference | ui
(+ diagnose | lr-find | report | runs | schema | export | compare | improve).

Exit codes: 0 success, 1 the run failed, 2 bad recipe, arguments or store (one message, no traceback),
130 / 143 a run stopped by SIGINT / SIGTERM (marked KILLED, resumable).
Heavy imports happen inside the commands, so `--help` and `validate` stay instant.
"""

from __future__ import annotations

import argparse
import sys

from pipeline.exit_codes import EXIT_FAILED, EXIT_OK, EXIT_USAGE


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # argparse's own exit code is 2 as well; keep its usage line
        self.print_usage(sys.stderr)
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message}\n")


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="pipeline", description="Train Keras models from YAML recipes, tracked in MLflow.")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    def recipe_command(name: str, help: str):
        p = sub.add_parser(name, help=help, description=help)
        p.add_argument("recipe", help="path to a recipe YAML file")
        p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                       help="override a recipe value, e.g. --set train.epochs=5 --set model.layers[2].rate=0.3")
        return p

    p = recipe_command("run", "train a recipe and record it as an MLflow run")
    p.add_argument("--tracking-uri", help="MLflow store (default: $MLFLOW_TRACKING_URI or sqlite:///mlruns/mlflow.db)")
    p.add_argument("--resume", metavar="RUN_ID", help="continue this run (or 'last': the newest unfinished run of "
                                                      "the recipe) from its last epoch checkpoint, same run id")
    p.add_argument("--rerun", action="store_true", help="train even if a FINISHED run of the experiment has the same "
                                                        "recipe.id (same recipe and data); the new run is tagged "
                                                        "rerun.of=<that run>")
    p.add_argument("--coordinator", metavar="HOST:PORT", help="train one model in several processes (JAX): "
                   "process 0 serves here and records the run (default: $JAX_COORDINATOR_ADDRESS)")
    p.add_argument("--num-processes", type=int, metavar="N", help="processes training together "
                   "(default: $JAX_NUM_PROCESSES)")
    p.add_argument("--process-id", type=int, metavar="I", help="this process, 0..N-1 (default: $JAX_PROCESS_ID)")
    p.add_argument("--join-timeout", type=int, default=300, metavar="S",
                   help="seconds to wait for every process to join (default 300)")
    recipe_command("validate", "check a recipe without training (no framework import)")
    recipe_command("show", "print the resolved recipe and the model's per-layer parameter counts")
    sub.add_parser("plugins", help="list the registered components and the plugins that provide them")

    def page_command(name: str, help: str, description: str, default: str, source: str):
        p = sub.add_parser(name, help=help, description=description)
        p.add_argument("-o", "--output", default=default, help=f"page to write or check (default: {default}; "
                                                                "'-' prints it)")
        p.add_argument("--check", action="store_true",
                       help=f"write nothing; exit 1 if the page differs from {source} (for CI)")

    page_command("catalogue", "write the component catalogue page from the registries",
                 "Write the Markdown catalogue of the built-in components (one line each, from the "
                 "registries), or check that it is up to date.", "docs/catalogue.md", "the registries")
    page_command("reference", "write the command-line reference page from this command's arguments",
                 "Write the Markdown reference of every `pipeline` command and its arguments (from the "
                 "argument parser), or check that it is up to date.", "docs/cli.md", "the parser")
    p = recipe_command("tune", "hyperparameter search over the recipe's search: space (KerasTuner, MLflow)")
    p.add_argument("--tracking-uri", help="MLflow store (default: $MLFLOW_TRACKING_URI or sqlite:///mlruns/mlflow.db)")
    p.add_argument("--resume", action="store_true", help="continue an interrupted search; finished trials are kept")
    p.add_argument("--workers", type=int, default=1, help="trials in N processes (KerasTuner chief/worker)")
    p.add_argument("--chief", metavar="HOST:PORT", help="serve the search to workers on other hosts (binds HOST, "
                                                        "127.0.0.1 unless given); with --worker: the chief to ask")
    p.add_argument("--worker", action="store_true", help="take trials from the --chief until its search is done")
    p.add_argument("--worker-timeout", type=float, default=60.0, metavar="S",
                   help="with --chief: a worker silent this long loses its trial to another (default 60)")
    p.add_argument("--rerun", action="store_true", help="train every trial, even one whose recipe.id a FINISHED "
                                                        "run already has (by default its logged curves score it)")
    p.add_argument("--dir", help="search state folder (default: tuning/<recipe name>)")
    p.add_argument("-o", "--output", help="where to write the best recipe (default: <dir>/best.yaml)")
    from pipeline.diagnostics.commands import add_commands  # diagnose | lr-find | report
    from pipeline.export import add_commands as add_export_command  # export
    from pipeline.recipe.commands import add_commands as add_schema_command  # schema
    from pipeline.tracking.commands import add_commands as add_run_commands  # runs

    add_commands(sub, recipe_command)
    add_run_commands(sub)
    add_schema_command(sub)
    add_export_command(sub)
    from pipeline.compare_command import add_command as add_compare
    from pipeline.improve_command import add_command as add_improve

    add_compare(sub)
    add_improve(sub, recipe_command)
    p = sub.add_parser("ui", help="open the MLflow UI on the default store (127.0.0.1)")
    p.add_argument("--host", default="127.0.0.1", help="interface to bind (default 127.0.0.1: this machine only)")
    p.add_argument("--port", type=int, default=5000)
    p.add_argument("--tracking-uri", help="MLflow store to show")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    command = getattr(args, "handler", None) or {  # subcommands added by other modules set a handler
        "run": _run, "validate": _validate, "show": _show, "plugins": _plugins, "catalogue": _catalogue,
        "reference": _reference, "ui": _ui, "tune": _tune}[args.command]
    from pipeline.recipe import RecipeError
    from pipeline.tracking.store import StoreError

    try:
        return command(args)
    except RecipeError as exc:
        print(f"error: {getattr(exc, 'title', 'invalid recipe')}\n{exc}", file=sys.stderr)
        return EXIT_USAGE
    except StoreError as exc:  # nothing was recorded: the store could not be used
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except BrokenPipeError:  # `pipeline plugins | head`: the reader left, nothing to report
        sys.stderr.close()
        return EXIT_OK


def _load(args):
    from pipeline.recipe import load_recipe

    return load_recipe(args.recipe, args.overrides)


def _validate(args) -> int:
    loaded = _load(args)
    print(f"{args.recipe}: valid (recipe hash {loaded.hash}, backend {loaded.resolved['backend']})")
    return EXIT_OK


def _show(args) -> int:
    import yaml

    loaded = _load(args)
    print(yaml.safe_dump(loaded.resolved, sort_keys=False).rstrip())
    print(f"# recipe hash: {loaded.hash}\n")
    from pipeline import backend

    backend.activate(loaded.resolved["backend"])
    from pipeline.model.network import build_model
    from pipeline.kfold import fold_recipe
    from pipeline.speed import describe_devices
    from pipeline.assemble import prepare_data

    print(describe_devices(loaded.resolved["backend"], loaded.plan.recipe.train.device))

    if loaded.plan.preprocess:  # the model reads what preprocessing (e.g. PCA) fitted on training makes
        split = loaded.plan.recipe.data.split
        _, splits = prepare_data(fold_recipe(loaded, 0) if split.kfold and split.fold is None else loaded)
        shape = splits.x_train.shape[1:]
    else:
        from pipeline.data.checks import load_source

        shape = load_source(loaded).x.shape[1:]
    model = build_model(loaded.plan.layers, loaded.plan.outputs, shape, name=loaded.plan.recipe.name)
    from pipeline.summary import layer_table  # plain text: Keras' table drops columns when piped

    print(layer_table(model))
    return EXIT_OK


def _run(args) -> int:
    from pipeline import processes
    from pipeline.recipe import RecipeError
    from pipeline.tracking.store import StoreError

    cluster = processes.requested(args.coordinator, args.num_processes, args.process_id)
    loaded = _load(args) if cluster is None else _several_processes(args, cluster)
    if cluster is not None:
        print(f"joining {cluster.num_processes} processes at {cluster.coordinator} as process {cluster.process_id} "
              f"(waiting up to {args.join_timeout} s for the others)", flush=True)
        try:
            processes.join(cluster, args.join_timeout)
        except RuntimeError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return EXIT_FAILED
        processes.follow_process_0()
        code, how = EXIT_FAILED, None
        try:
            _announce(args, loaded, cluster)
            how, tags = _trained_before(args, loaded) if processes.records() else (None, {})  # process 0 reads the store
            code = EXIT_OK if how else _train(args, loaded, cluster, tags)
            return code
        except (RecipeError, StoreError):  # a refused recipe or store: main() reports it as exit 2
            code = EXIT_USAGE
            raise
        finally:  # process 0: the others leave with its exit code instead of being aborted by JAX
            how = how or {EXIT_OK: "it finished", EXIT_USAGE: "it was refused", 130: "interrupted",
                          143: "interrupted by SIGTERM"}.get(code, "it failed")
            processes.tell_the_others(code, how)
            processes.leave()
    _announce(args, loaded, cluster)
    skipped, tags = _trained_before(args, loaded)  # checked before any framework is imported
    return EXIT_OK if skipped else _train(args, loaded, cluster, tags)


def _several_processes(args, cluster):
    """The recipe as several processes train it (data parallel over all their devices), after
    refusing what they cannot do: another backend than JAX, k-fold, --resume."""
    from pipeline.recipe import Problem, RecipeError, load_recipe

    loaded = _load(args)
    refused = []
    if args.resume:
        refused.append("--resume: a run of several processes is resumed by one process (its global batch is "
                       "the same): run the --resume command it printed, without --coordinator")
    if loaded.resolved["backend"] != "jax":
        refused.append(f"backend {loaded.resolved['backend']}: several processes train through JAX's "
                       f"distributed runtime; set backend: jax")
    if loaded.plan.recipe.data.split.kfold:
        refused.append("data.split.kfold: cross-validation in several processes is not supported; train the "
                       "folds as separate runs")
    if refused:
        raise RecipeError([Problem(("--coordinator",), reason) for reason in refused])
    if loaded.plan.recipe.distribution is None:
        print(f"note: {cluster.num_processes} processes train with distribution: {{type: data_parallel}} (added)")
        loaded = load_recipe(args.recipe, [*args.overrides, "distribution={type: data_parallel}"])
    return loaded


def _announce(args, loaded, cluster) -> None:
    print(f"recipe {args.recipe} (hash {loaded.hash}) on backend {loaded.resolved['backend']}"
          + (f", process {cluster.process_id} of {cluster.num_processes}" if cluster else ""), flush=True)


def _trained_before(args, loaded) -> tuple[str | None, dict]:
    """(what was printed when a FINISHED run has the same recipe.id and this one is skipped, else
    None; the tags of the new run: `rerun.of` when --rerun trains it again)."""
    from pipeline import repeats, tracking

    if args.resume is not None:
        return None, {}
    earlier = repeats.earlier_run(loaded, tracking.tracking_uri(args.tracking_uri))
    if earlier is None:
        return None, {}
    if args.rerun:
        return None, {repeats.RERUN_TAG: earlier.run_id}
    message = repeats.already_trained(earlier)
    print(message)
    return message, {}


def _train(args, loaded, cluster, tags: dict) -> int:
    from pipeline.recipe import RecipeError, locate
    from pipeline.tracking.store import StoreError
    from pipeline.train import run

    split = loaded.plan.recipe.data.split
    unrecorded = "process 0 records the run" if cluster and cluster.process_id else "no run was recorded"
    try:
        if split.kfold and split.fold is None:  # cross-validation: one nested run per fold
            from pipeline.kfold import run_kfold

            run_kfold(loaded, tracking_uri=args.tracking_uri, resume=args.resume, rerun=args.rerun, parent_tags=tags)
        else:
            run(loaded, tracking_uri=args.tracking_uri, resume=args.resume, tags=tags)
    except RecipeError as exc:  # found while building (e.g. an empty image folder): point at the recipe
        if getattr(exc, "located", False):  # a refused --resume: its problems carry their places
            raise
        raise RecipeError([locate(p, loaded.marks) for p in exc.problems]) from None
    except StoreError:  # nothing was recorded: main() says what is wrong with the store
        raise
    except KeyboardInterrupt as exc:  # SIGINT or SIGTERM: exit as the shell would, 130 / 143
        end = getattr(exc, "run_end", None)
        print(f"{exc or 'interrupted'}: " + (_ended(end) if end else unrecorded), file=sys.stderr)
        return getattr(exc, "exit_code", 130)
    except Exception as exc:
        end = getattr(exc, "run_end", None)
        print(f"run failed: {type(exc).__name__}: {exc}\n"
              + (_ended(end, " (the traceback is in its error.txt artifact)") if end else unrecorded),
              file=sys.stderr)
        return EXIT_FAILED
    return EXIT_OK


def _ended(end, note: str = "") -> str:
    """What became of a run that did not finish, and how to continue it."""
    kept = (f"its checkpoint after epoch {end.epochs_done} is kept" if end.epochs_done
            else "it saved no epoch checkpoint (a resume starts at epoch 1)")
    return (f"the MLflow run {end.run_id} is marked {end.status}{note}; {kept}"
            + (f"\nresume it: {end.resume_command}" if end.resume_command else ""))


def _tune(args) -> int:
    from pipeline.search.cli import tune_command

    return tune_command(args)


def _plugins(args) -> int:
    from pipeline import registries
    from pipeline.plugins import load_plugins

    state = load_plugins()
    for kind, registry in registries.ALL.items():
        print(f"{kind}:")
        for entry in registry.entries():
            aliases = f" (aliases: {', '.join(entry.aliases)})" if entry.aliases else ""
            print(f"  {entry.name:<34} {entry.provider}{aliases}")
    for name, reason in state.failed.items():
        print(f"FAILED plugin {name}: {reason}")
    return EXIT_OK


def _catalogue(args) -> int:
    from pipeline import catalogue

    return _generated_page(args, catalogue.render(), "pipeline catalogue", catalogue.DEFAULT_PATH, "the registries")


def _reference(args) -> int:
    from pipeline import cli_reference

    return _generated_page(args, cli_reference.render(_parser()), "pipeline reference", cli_reference.DEFAULT_PATH,
                           "the parser")


def _generated_page(args, page: str, command: str, default_path: str, source: str) -> int:
    """Print (`-o -`), check (`--check`: exit 1 when stale) or write a page generated from the code."""
    from pipeline import generated_page

    if args.output == "-":
        sys.stdout.write(page)
        return EXIT_OK
    if args.check:
        problem = generated_page.check(args.output, page, command, default_path, source)
        if problem:
            print(problem, file=sys.stderr)
            return EXIT_FAILED
        print(f"{args.output}: up to date")
        return EXIT_OK
    changed = generated_page.write(args.output, page)
    print(f"{args.output}: {'written' if changed else 'unchanged'}")
    return EXIT_OK


def _ui(args) -> int:
    from pipeline import tracking
    from pipeline.ui import serve

    return serve(tracking.tracking_uri(args.tracking_uri), args.host, args.port)


def console_main() -> None:
    """The `pipeline` console script: `main()`, then exit without the interpreter's teardown."""
    from pipeline.fast_exit import exit_now

    exit_now(main())


if __name__ == "__main__":
    console_main()
