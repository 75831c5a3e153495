"""The `Registry` class on a throw-away registry, then every built-in entry of every registry.

The second half is parametrized over `pipeline.registries.ALL` (timm style): a component added by
anyone is checked here without anyone writing a test for it.
"""

from __future__ import annotations

import inspect
import subprocess
import sys
import typing
from pathlib import Path

import pytest

from pipeline import registries
from pipeline.components import check, check_value, parameters
from pipeline.recipe import Problem
from pipeline.registry import (Entry, Provider, Registry, RegistryError, normalize_name, registering,
                               split_spec)

REPO = Path(__file__).resolve().parents[1]

SUFFIX = "(plugins add more: pipeline plugins)"


@pytest.fixture
def widgets() -> Registry:
    """A fresh registry per test: nothing leaks between tests, nothing from the built-ins."""
    return Registry("widgets")


def sprocket(teeth: int = 12, colour: str = "grey"):
    """A toothed wheel."""
    return ("sprocket", teeth, colour)


def gear(teeth: int, module: float = 1.0):
    """A gear; `teeth` is required."""
    return ("gear", teeth, module)


# -- registration ---------------------------------------------------------------------------------
def test_register_as_decorator_with_name(widgets):
    @widgets.register("spring")
    def make_spring(k: float = 1.0):
        """A spring."""
        return k

    assert "spring" in widgets
    assert widgets.get("spring").factory is make_spring
    assert make_spring(2.0) == 2.0  # the decorator hands the function back unchanged


def test_register_as_bare_decorator_uses_function_name(widgets):
    @widgets.register
    def lever(length: float = 1.0):
        """A lever."""
        return length

    assert widgets.names() == ["lever"]
    assert widgets.get("lever").factory is lever


def test_register_decorator_without_name_uses_function_name(widgets):
    @widgets.register()
    def pulley():
        """A pulley."""

    @widgets.register(aliases=("screw_jack",))
    def jack():
        """A jack."""

    assert widgets.names() == ["jack", "pulley"]
    assert widgets.get("screw-jack").factory is jack


def test_register_as_call(widgets):
    returned = widgets.register("sprocket", sprocket)
    assert returned is sprocket
    entry = widgets.get("sprocket")
    assert isinstance(entry, Entry)
    assert (entry.name, entry.factory, entry.kind) == ("sprocket", sprocket, "widgets")
    assert entry.summary == "A toothed wheel."
    assert list(entry.signature.parameters) == ["teeth", "colour"]


def test_register_call_without_name_uses_dunder_name(widgets):
    widgets.register(None, gear)
    assert widgets.names() == ["gear"]


def test_register_refuses_a_non_callable(widgets):
    with pytest.raises(TypeError, match=r"Expected a callable factory for widget 'bolt'. Received: factory=42"):
        widgets.register("bolt", 42)
    assert len(widgets) == 0


def test_entry_records_the_provider(widgets):
    with registering(Provider("acme", "acme-widgets", "1.2.3")):
        widgets.register("sprocket", sprocket)
    entry = widgets.get("sprocket")
    assert entry.provider == Provider("acme", "acme-widgets", "1.2.3")
    assert str(entry.provider) == "acme (acme-widgets 1.2.3)"


def test_plugin_namespace_prefixes_names(widgets):
    with registering(Provider("acme"), namespace="acme"):
        widgets.register("Sprocket", sprocket)
    assert widgets.names() == ["acme.sprocket"]
    assert "acme.sprocket" in widgets and "sprocket" not in widgets
    widgets.register("sprocket", sprocket)  # outside the block: a local name again
    assert widgets.get("sprocket").provider == Provider("local")


def test_a_registration_rolls_back_exactly_what_it_added(widgets):
    widgets.register("gear", gear)
    other = Registry("others")
    with registering(Provider("acme"), namespace="acme") as registration:
        widgets.register("sprocket", sprocket, aliases=("cog",))
        other.register("lever", gear)
    assert widgets.names() == ["acme.sprocket", "gear"] and other.names() == ["acme.lever"]
    registration.rollback()
    assert widgets.names() == ["gear"] and "acme.cog" not in widgets and len(other) == 0


# -- names ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("written, expected", [
    ("he_normal", "he_normal"), ("He-Normal", "he_normal"), ("  HE_NORMAL ", "he_normal"),
    ("conv1d", "conv1d"), ("Conv-1D", "conv_1d"),
])
def test_normalize_name(written, expected):
    assert normalize_name(written) == expected


def test_lookup_ignores_case_and_dash_vs_underscore(widgets):
    widgets.register("Batch-Norm", sprocket)
    assert widgets.names() == ["batch_norm"]  # stored normalized
    for spelling in ("batch_norm", "batch-norm", "BATCH_NORM", "Batch-Norm", "bAtCh-nOrM"):
        assert spelling in widgets
        assert widgets.get(spelling).name == "batch_norm"
        assert widgets.resolve(spelling) == "batch_norm"


def test_contains_is_false_for_non_strings(widgets):
    widgets.register("sprocket", sprocket)
    assert 3 not in widgets
    assert None not in widgets


def test_aliases_resolve_to_the_same_entry(widgets):
    widgets.register("sprocket", sprocket, aliases=("Cog-Wheel", "chainwheel"))
    entry = widgets.get("sprocket")
    assert entry.aliases == ("cog_wheel", "chainwheel")
    assert widgets.get("cog-wheel") is entry
    assert widgets.get("CHAINWHEEL") is entry
    assert "cog_wheel" in widgets
    # aliases are lookups, not entries: the catalogue lists each component once
    assert widgets.names() == ["sprocket"]
    assert len(widgets) == 1
    assert list(widgets.entries()) == [entry]


# -- duplicates ---------------------------------------------------------------------------------------
def test_duplicate_name_raises_naming_both_providers(widgets):
    with registering(Provider("first_plugin", "first-dist", "1.0")):
        widgets.register("sprocket", sprocket)
    with registering(Provider("second_plugin", "second-dist", "2.0")), \
            pytest.raises(RegistryError) as info:
        widgets.register("Sprocket", gear)  # a different spelling of the same normalized name
    assert str(info.value) == ("widget 'sprocket' is already registered by first_plugin (first-dist 1.0); "
                               "second_plugin (second-dist 2.0) tried to register it again")
    assert widgets.get("sprocket").factory is sprocket  # never overwritten


def test_duplicate_via_alias_raises(widgets):
    with registering(Provider("first_plugin")):
        widgets.register("sprocket", sprocket, aliases=("cog",))
    with registering(Provider("second_plugin")):
        with pytest.raises(RegistryError, match=r"widget 'cog' is already registered by first_plugin; "
                                                r"second_plugin tried to register it again"):
            widgets.register("cog", gear)  # a name that is already someone's alias
        with pytest.raises(RegistryError, match=r"widget 'sprocket' is already registered by first_plugin"):
            widgets.register("gear", gear, aliases=("sprocket",))  # an alias that is already a name
    # a refused registration leaves nothing half-registered
    assert "gear" not in widgets
    assert widgets.names() == ["sprocket"]


def test_duplicate_decorator_raises_at_definition(widgets):
    widgets.register("sprocket", sprocket)
    with pytest.raises(RegistryError, match="already registered by local; local tried"):
        @widgets.register("sprocket")
        def other():
            """Another sprocket."""


# -- unknown names --------------------------------------------------------------------------------------
def _register_three(widgets):
    widgets.register("sprocket", sprocket, aliases=("cog",))
    widgets.register("gear", gear)
    widgets.register("gizmo", lambda: None)


def test_unknown_name_with_one_close_match_exact_message(widgets):
    _register_three(widgets)
    with pytest.raises(RegistryError) as info:
        widgets.get("sprockett")
    assert str(info.value) == (f"unknown widget 'sprockett'; did you mean 'sprocket'? "
                               f"Known: gear, gizmo, sprocket {SUFFIX}")
    assert info.value.matches == ("sprocket",)
    assert isinstance(info.value, LookupError)


def test_unknown_name_with_two_close_matches_exact_message(widgets):
    _register_three(widgets)
    with pytest.raises(RegistryError) as info:
        widgets.get("gizm")
    assert str(info.value) == (f"unknown widget 'gizm'; did you mean 'gizmo'? "
                               f"Known: gear, gizmo, sprocket {SUFFIX}")
    with pytest.raises(RegistryError) as info:
        widgets.get("gea")
    assert str(info.value) == (f"unknown widget 'gea'; did you mean 'gear'? "
                               f"Known: gear, gizmo, sprocket {SUFFIX}")
    widgets.register("gears", gear)
    with pytest.raises(RegistryError) as info:
        widgets.get("geers")
    assert str(info.value) == (f"unknown widget 'geers'; did you mean 'gears' or 'gear'? "
                               f"Known: gear, gears, gizmo, sprocket {SUFFIX}")
    assert info.value.matches == ("gears", "gear")


def test_unknown_name_suggests_aliases_and_normalizes(widgets):
    _register_three(widgets)
    with pytest.raises(RegistryError) as info:
        widgets.get("COGG")
    assert str(info.value) == f"unknown widget 'COGG'; did you mean 'cog'? Known: gear, gizmo, sprocket {SUFFIX}"


def test_unknown_name_without_close_match_exact_message(widgets):
    _register_three(widgets)
    with pytest.raises(RegistryError) as info:
        widgets.get("zzz")
    assert str(info.value) == f"unknown widget 'zzz'. Known: gear, gizmo, sprocket {SUFFIX}"
    assert info.value.matches == ()


def test_unknown_short_name_still_gets_close_matches():
    """Two-letter names differ by one character at a ratio of 0.5: the design's 'l3' -> 'l2' example."""
    penalties = Registry("regularizers")
    for name in ("l1", "l2", "l1_l2"):
        penalties.register(name, sprocket)
    with pytest.raises(RegistryError) as info:
        penalties.get("l3")
    assert str(info.value) == f"unknown regularizer 'l3'; did you mean 'l2' or 'l1'? Known: l1, l1_l2, l2 {SUFFIX}"


def test_unknown_name_in_an_empty_registry(widgets):
    with pytest.raises(RegistryError) as info:
        widgets.get("anything")
    assert "Known: (none)" in str(info.value)
    assert str(info.value).endswith(SUFFIX)


def test_get_of_a_non_string_raises_registry_error(widgets):
    _register_three(widgets)
    with pytest.raises(RegistryError, match=r"unknown widget 3"):
        widgets.get(3)


def test_singular_can_be_given():
    losses = Registry("losses", singular="loss")
    with pytest.raises(RegistryError, match=r"^unknown loss 'x'"):
        losses.get("x")


# -- names(pattern), build(spec) ---------------------------------------------------------------------------
def test_names_sorted_and_filtered_by_glob(widgets):
    for name in ("conv2d", "dense", "conv1d", "max_pool1d", "avg_pool1d"):
        widgets.register(name, sprocket)
    assert widgets.names() == ["avg_pool1d", "conv1d", "conv2d", "dense", "max_pool1d"]
    assert widgets.names("conv*") == ["conv1d", "conv2d"]
    assert widgets.names("*pool1d") == ["avg_pool1d", "max_pool1d"]
    assert widgets.names("*1d") == ["avg_pool1d", "conv1d", "max_pool1d"]
    assert widgets.names("nothing*") == []
    assert widgets.names(None) == widgets.names()


def test_build_from_spec_mapping_name_and_extra(widgets):
    widgets.register("sprocket", sprocket)
    widgets.register("gear", gear)
    assert widgets.build({"type": "sprocket", "teeth": 30}) == ("sprocket", 30, "grey")
    assert widgets.build({"type": "Gear", "teeth": 8, "module": 2.5}) == ("gear", 8, 2.5)
    assert widgets.build("sprocket") == ("sprocket", 12, "grey")
    assert widgets.build("gear", teeth=5) == ("gear", 5, 1.0)  # extra keyword arguments from the caller
    spec = {"type": "sprocket", "colour": "red"}
    widgets.build(spec)
    assert spec == {"type": "sprocket", "colour": "red"}  # the spec is not consumed


def test_build_unknown_and_malformed_specs(widgets):
    widgets.register("sprocket", sprocket)
    with pytest.raises(RegistryError, match=r"unknown widget 'sprockt'; did you mean 'sprocket'\?"):
        widgets.build({"type": "sprockt"})
    with pytest.raises(TypeError, match=r"Expected a name or a mapping with a 'type' key. Received: \{'teeth': 3\}"):
        widgets.build({"teeth": 3})
    with pytest.raises(TypeError, match=r"Expected a name or a mapping with a 'type' key. Received: 7"):
        widgets.build(7)


def test_split_spec():
    assert split_spec("relu") == ("relu", {})
    assert split_spec({"type": "l2", "factor": 0.1}) == ("l2", {"factor": 0.1})
    with pytest.raises(TypeError):
        split_spec({"type": 3})


def test_repr_and_len(widgets):
    widgets.register("sprocket", sprocket)
    assert len(widgets) == 1
    assert repr(widgets) == "Registry('widgets', 1 entries)"


# -- isolation ---------------------------------------------------------------------------------------------
def test_isolated_forgets_registrations_in_every_registry():
    before = {kind: reg.names() for kind, reg in registries.ALL.items()}
    with registries.isolated():
        for kind, reg in registries.ALL.items():
            reg.register(f"tmp_{kind}_probe", sprocket, aliases=(f"tmp_{kind}_alias",))
            assert f"tmp_{kind}_probe" in reg
    for kind, reg in registries.ALL.items():
        assert f"tmp_{kind}_probe" not in reg
        assert f"tmp_{kind}_alias" not in reg
        assert reg.names() == before[kind]
    # and the name is free again
    with registries.isolated():
        registries.layers.register("tmp_layers_probe", gear)


def test_isolated_restores_even_after_an_error():
    with pytest.raises(RuntimeError):
        with registries.isolated():
            registries.layers.register("tmp_doomed", sprocket)
            raise RuntimeError("boom")
    assert "tmp_doomed" not in registries.layers


def test_snapshot_and_restore(widgets):
    widgets.register("sprocket", sprocket)
    state = widgets.snapshot()
    widgets.register("gear", gear, aliases=("cog",))
    widgets.restore(state)
    assert widgets.names() == ["sprocket"] and "cog" not in widgets


def test_registries_module_declares_each_kind_once():
    assert set(registries.ALL) == {r.kind for r in registries.ALL.values()}
    for kind, reg in registries.ALL.items():
        assert reg.kind == kind
        assert reg is getattr(registries, kind)


# -- every built-in entry (timm style) -------------------------------------------------------------------
ENTRIES = [(kind, entry.name) for kind, reg in registries.ALL.items() for entry in reg.entries()]
ENTRY_IDS = [f"{kind}:{name}" for kind, name in ENTRIES]


def test_builtins_are_loaded():
    assert len(ENTRIES) > 0
    for kind in ("layers", "optimizers", "losses", "datasets"):
        assert len(registries.ALL[kind]) > 0, f"no built-in {kind}"


@pytest.mark.parametrize("kind, name", ENTRIES, ids=ENTRY_IDS)
def test_entry_has_one_line_summary(kind, name):
    entry = registries.ALL[kind].get(name)
    doc = inspect.getdoc(entry.factory)
    assert doc, f"{kind} '{name}' has no docstring (its catalogue line in `pipeline plugins`)"
    first_paragraph = doc.split("\n\n")[0]
    assert len(first_paragraph.splitlines()) == 1, \
        f"{kind} '{name}': the summary must be one line, then a blank line. Received: {first_paragraph!r}"
    assert entry.summary == first_paragraph.strip()
    assert entry.summary.strip()


@pytest.mark.parametrize("kind, name", ENTRIES, ids=ENTRY_IDS)
def test_entry_name_kind_and_aliases(kind, name):
    registry = registries.ALL[kind]
    entry = registry.get(name)
    assert entry.kind == kind
    assert entry.name == normalize_name(entry.name)
    assert registry.get(name.upper().replace("_", "-")) is entry
    for alias in entry.aliases:
        assert registry.get(alias) is entry


@pytest.mark.parametrize("kind, name", ENTRIES, ids=ENTRY_IDS)
def test_entry_signature_is_a_recipe_schema(kind, name):
    """`inspect.signature` works; every parameter can be written in a recipe and is type-annotated."""
    entry = registries.ALL[kind].get(name)
    signature = inspect.signature(entry.factory)
    assert signature == entry.signature
    hints = typing.get_type_hints(entry.factory, include_extras=True)  # must resolve, or types go unchecked
    for pname, p in signature.parameters.items():
        assert p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY), \
            f"{kind} '{name}': parameter {p} cannot be set from a recipe (positional-only, *args or **kwargs)"
        assert pname in hints, f"{kind} '{name}': parameter '{pname}' has no type annotation, so it is not checked"
    assert list(parameters(entry)) == list(signature.parameters)


@pytest.mark.parametrize("kind, name", ENTRIES, ids=ENTRY_IDS)
def test_entry_parameters_have_defaults_or_are_reported_required(kind, name):
    """A parameter either has a default or the validator tells the user it is required."""
    registry = registries.ALL[kind]
    entry = registry.get(name)
    problems: list[Problem] = []
    check(registry, {"type": name}, ("spec",), problems)
    required = [p for p, param in entry.signature.parameters.items() if param.default is param.empty]
    messages = [p.message for p in problems]
    assert messages == [f"missing required argument '{p}' for {registry.singular} '{entry.name}'"
                        for p in required]


@pytest.mark.parametrize("kind, name", ENTRIES, ids=ENTRY_IDS)
def test_entry_defaults_pass_their_own_validation(kind, name):
    """A default must satisfy its own annotation (e.g. a default initializer name must be registered)."""
    entry = registries.ALL[kind].get(name)
    hints = typing.get_type_hints(entry.factory, include_extras=True)
    for pname, param in entry.signature.parameters.items():
        if param.default is param.empty or pname not in hints:
            continue
        problems: list[Problem] = []
        check_value(hints[pname], param.default, ("spec", pname), problems)
        assert problems == [], f"{kind} '{name}': default {pname}={param.default!r} is invalid"


# -- no framework import for validation ------------------------------------------------------------------------
def test_plugins_and_recipe_validation_import_no_framework():
    code = ("import sys; from pipeline.plugins import load_plugins; load_plugins(); "
            "from pipeline.recipe import load_recipe; load_recipe('recipes/mnist1d-cnn.yaml'); "
            "print(sorted(m for m in ('keras','tensorflow','jax','torch','mlflow') if m in sys.modules))")
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_components_imports_alone():
    """Regression: `pipeline.components` once imported `pipeline.recipe` half-way (circular import)."""
    result = subprocess.run([sys.executable, "-c", "import pipeline.components"], cwd=REPO,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
