"""`pipeline schema`: the recipe JSON Schema, registries included, for editors (YAML language server).

No framework import: the schema comes from the recipe schema and the registries' signatures.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from pipeline.exit_codes import EXIT_OK, EXIT_USAGE


def add_commands(sub) -> None:
    p = sub.add_parser("schema", help="print the recipe JSON Schema (registries included) for editors",
                       description="Print the JSON Schema (draft 2020-12) of a recipe file: every section and "
                                   "setting, and each component slot as the names registered now (plugins "
                                   "included) with their arguments. Point an editor at it with a first line "
                                   "'# yaml-language-server: $schema=FILE' (docs/recipes-schema.md).")
    p.add_argument("-o", "--out", metavar="FILE", help="write the schema to FILE instead of printing it")
    p.set_defaults(handler=_schema)


def _schema(args) -> int:
    from pipeline.plugins import load_plugins
    from pipeline.recipe.json_schema import recipe_json_schema

    load_plugins()
    text = json.dumps(recipe_json_schema(), indent=2, ensure_ascii=False) + "\n"
    if not args.out:
        sys.stdout.write(text)
        return EXIT_OK
    out = Path(args.out)
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(text, encoding="utf-8")
    except OSError as exc:
        print(f"error: cannot write the schema to {args.out}: {exc.strerror or exc}", file=sys.stderr)
        return EXIT_USAGE
    print(f"{args.out}: written")
    return EXIT_OK
