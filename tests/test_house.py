"""The house's walls, read from the code's own syntax trees (nothing is imported).

No import circles among the project's modules (imports inside functions count as much as those
at the top), no import from ``clickme_analysis`` up to ``stimuli`` / ``experiments`` / ``models``
/ ``reports``, no file over 600 lines and no function over 80. The size checks carry an explicit
list of the files and functions that are over today (none of them in ``models/``): whoever
splits one removes it from the list, and a new offender fails.
"""

from __future__ import annotations

import ast
import functools
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
#: The packages, lowest first; ``clickme_app`` (the ``clickme`` shell) sits above every other one.
PACKAGES = ("clickme_analysis", "stimuli", "experiments", "models", "reports", "clickme_app")
MAX_FILE_LINES = 600
MAX_FUNCTION_LINES = 80

#: Circles and upward imports tolerated today: none (issue 21 steps 2 and 3 removed the last ones,
#: in reports/ and the CLI shell). An entry added here must be removed when it is gone.
KNOWN_CIRCLES: list[list[str]] = []
KNOWN_UPWARD: set[str] = set()
#: Files over MAX_FILE_LINES today, many of them grown by `ruff format` (remove a file from here when it is split).
KNOWN_LONG_FILES = {
    "clickme_analysis/archive.py",
    "clickme_analysis/io.py",
    "clickme_analysis/metrics.py",
    "models/train.py",
    "reports/figures.py",
}
#: Functions over MAX_FUNCTION_LINES today, as "path:name".
KNOWN_LONG_FUNCTIONS = {
    "clickme_analysis/_parse_numba.py:parse_point_cells",
    "clickme_analysis/ceiling.py:split_half_ceiling",
    "clickme_analysis/events.py:load_gonogo",
    "clickme_analysis/maps.py:map_batches",
    "clickme_analysis/metrics.py:score_maps",
    "clickme_analysis/mixed_model.py:fit_prepared",
    "clickme_analysis/pipeline.py:write_maps",
    "clickme_analysis/pipeline.py:write_reliability",
    "clickme_analysis/psychophysics/group_tests.py:ceiling_levels",
    "clickme_analysis/psychophysics/group_tests.py:level_tests",
    "clickme_analysis/reliability.py:inter_rater_reliability",
    "clickme_analysis/reliability.py:split_half_reliability",
    "clickme_analysis/reliability_curve.py:reliability_curve",
    "clickme_analysis/tfrecord.py:read_clickme_tfrecord",
    "experiments/demo.py:run_demo",
    "experiments/game/play.py:run_game",
    "experiments/runner.py:run_session",
    "models/augment.py:augment_batch",
    "models/cli.py:register",
    "models/cli.py:register_alignment",
    "models/explain.py:importance_maps",
    "models/explain.py:smoothgrad",
    "models/gpu_check.py:main",
    "models/loss.py:harmonizer_loss",
    "models/score.py:evaluate",
    "models/shards.py:pack",
    "reports/figures.py:accuracy_curves",
    "reports/parts/psychophysics.py:statistics_part",
    "stimuli/build.py:reveal_stimuli",
}

#: Issue 21 step 8, today's offenders (remove an entry when it is fixed; a new one fails):
#: imports inside functions of modules that are not heavy and optional, as path:module;
KNOWN_LOCAL_IMPORTS = {
    "clickme_analysis/archive.py:clickme_analysis._paint_numba",
    "clickme_analysis/archive.py:clickme_analysis.fileio",
    "clickme_analysis/archive.py:clickme_analysis.ids",
    "clickme_analysis/archive.py:clickme_analysis.imagefile",
    "clickme_analysis/ceiling.py:clickme_analysis.progress",
    "clickme_analysis/ceiling.py:skimage.transform",
    "clickme_analysis/cliargs.py:clickme_analysis.fileio",
    "clickme_analysis/clickstore.py:clickme_analysis.io",
    "clickme_analysis/clickstore.py:clickme_analysis.progress",
    "clickme_analysis/commands.py:clickme_analysis.archive",
    "clickme_analysis/commands.py:clickme_analysis.fileio",
    "clickme_analysis/commands.py:clickme_analysis.fixations",
    "clickme_analysis/commands.py:clickme_analysis.ids",
    "clickme_analysis/commands.py:clickme_analysis.labels",
    "clickme_analysis/commands.py:clickme_analysis.metrics",
    "clickme_analysis/commands.py:clickme_analysis.pipeline",
    "clickme_analysis/commands.py:clickme_analysis.reliability",
    "clickme_analysis/commands.py:clickme_analysis.reliability_curve",
    "clickme_analysis/commands.py:clickme_analysis.shapes",
    "clickme_analysis/commands.py:ctypes",
    "clickme_analysis/commands.py:ctypes.util",
    "clickme_analysis/commands.py:json",
    "clickme_analysis/config.py:clickme_analysis.io",
    "clickme_analysis/demo.py:clickme_analysis.archive",
    "clickme_analysis/demo.py:clickme_analysis.metrics",
    "clickme_analysis/demo.py:skimage.io",
    "clickme_analysis/events.py:clickme_analysis.progress",
    "clickme_analysis/fixations.py:clickme_analysis.ids",
    "clickme_analysis/fixations.py:clickme_analysis.io",
    "clickme_analysis/game_stats.py:scipy",
    "clickme_analysis/install_check.py:importlib.metadata",
    "clickme_analysis/io.py:clickme_analysis._parse_numba",
    "clickme_analysis/io.py:clickme_analysis.fileio",
    "clickme_analysis/io.py:clickme_analysis.ids",
    "clickme_analysis/io.py:csv",
    "clickme_analysis/io.py:sys",
    "clickme_analysis/io.py:tomllib",
    "clickme_analysis/maps.py:clickme_analysis._paint_numba",
    "clickme_analysis/maps.py:clickme_analysis.clickstore",
    "clickme_analysis/metrics.py:clickme_analysis.fixations",
    "clickme_analysis/metrics.py:clickme_analysis.ids",
    "clickme_analysis/metrics.py:clickme_analysis.progress",
    "clickme_analysis/pipeline.py:clickme_analysis.archive",
    "clickme_analysis/pipeline.py:clickme_analysis.clickstore",
    "clickme_analysis/pipeline.py:clickme_analysis.config",
    "clickme_analysis/pipeline.py:clickme_analysis.fileio",
    "clickme_analysis/pipeline.py:clickme_analysis.progress",
    "clickme_analysis/progress.py:tqdm.auto",
    "clickme_analysis/ranks.py:clickme_analysis._rank_numba",
    "clickme_analysis/reliability.py:clickme_analysis._paint_numba",
    "clickme_analysis/reliability.py:clickme_analysis.clickstore",
    "clickme_analysis/reliability.py:clickme_analysis.maps",
    "clickme_analysis/reliability.py:clickme_analysis.progress",
    "clickme_analysis/reliability_curve.py:clickme_analysis.progress",
    "clickme_analysis/reliability_curve.py:scipy.optimize",
    "clickme_analysis/shapes.py:PIL",
    "clickme_analysis/shapes.py:skimage.transform",
    "clickme_analysis/synthetic.py:clickme_analysis.maps",
    "clickme_analysis/synthetic.py:skimage.color",
    "clickme_analysis/synthetic.py:skimage.data",
    "clickme_analysis/synthetic.py:skimage.filters",
    "clickme_analysis/synthetic.py:skimage.transform",
    "clickme_analysis/tfrecord.py:clickme_analysis.fileio",
    "clickme_analysis/tfrecord.py:clickme_analysis.imagefile",
    "clickme_analysis/tfrecord.py:clickme_analysis.progress",
    "clickme_analysis/tfrecord.py:re",
    "clickme_app/demo.py:multiprocessing",
    "clickme_app/demo.py:reports.report",
    "experiments/cli.py:clickme_analysis.errors",
    "experiments/cli.py:clickme_analysis.events",
    "experiments/cli.py:clickme_analysis.psychophysics.analysis",
    "experiments/cli.py:clickme_analysis.psychophysics.descriptives",
    "experiments/cli.py:clickme_analysis.psychophysics.detection",
    "experiments/cli.py:clickme_analysis.psychophysics.exclusions",
    "experiments/cli.py:clickme_analysis.psychophysics.trials",
    "experiments/cli.py:experiments.config",
    "experiments/cli.py:experiments.observer",
    "experiments/cli.py:experiments.online.export",
    "experiments/cli.py:experiments.runner",
    "experiments/cli.py:experiments.session",
    "experiments/demo.py:clickme_analysis.progress",
    "experiments/demo.py:clickme_analysis.psychophysics.analysis",
    "experiments/demo.py:clickme_analysis.psychophysics.trials",
    "experiments/demo.py:experiments.config",
    "experiments/demo.py:experiments.design",
    "experiments/demo.py:experiments.display",
    "experiments/demo.py:experiments.observer",
    "experiments/demo.py:experiments.runner",
    "experiments/demo.py:experiments.session",
    "experiments/design.py:stimuli.build",
    "experiments/game/cli.py:clickme_analysis.errors",
    "experiments/game/cli.py:clickme_analysis.game_stats",
    "experiments/game/cli.py:experiments.game.config",
    "experiments/game/cli.py:experiments.game.partner",
    "experiments/game/cli.py:experiments.game.play",
    "experiments/game/cli.py:experiments.game.player",
    "experiments/game/cli.py:experiments.game.task",
    "experiments/game/demo.py:clickme_analysis.game_stats",
    "experiments/game/demo.py:clickme_analysis.io",
    "experiments/game/demo.py:clickme_analysis.labels",
    "experiments/game/demo.py:clickme_analysis.pipeline",
    "experiments/game/demo.py:clickme_analysis.synthetic",
    "experiments/game/demo.py:experiments.display",
    "experiments/game/demo.py:experiments.game.config",
    "experiments/game/demo.py:experiments.game.partner",
    "experiments/game/demo.py:experiments.game.play",
    "experiments/game/demo.py:experiments.game.player",
    "experiments/game/demo.py:experiments.game.task",
    "experiments/game/demo.py:subprocess",
    "experiments/game/demo.py:sys",
    "experiments/game/partner.py:clickme_analysis.synthetic",
    "experiments/game/partner.py:models.checkpoint",
    "experiments/game/partner.py:models.data",
    "experiments/game/player.py:clickme_analysis.synthetic",
    "experiments/game/player.py:skimage.feature",
    "experiments/online/cli.py:experiments.online.app",
    "experiments/online/cli.py:experiments.online.guard",
    "experiments/power_cli.py:clickme_analysis",
    "experiments/power_cli.py:clickme_analysis.fileio",
    "experiments/power_cli.py:experiments.config",
    "experiments/power_cli.py:experiments.design",
    "experiments/session.py:clickme_analysis.fileio",
    "experiments/session.py:importlib.metadata",
    "experiments/session.py:numpy",
    "experiments/session.py:pandas",
    "models/cli.py:models.alignment",
    "models/cli.py:models.alignment_loading",
    "models/cli.py:models.alignment_scoring",
    "models/cli.py:models.checkpoint",
    "models/cli.py:models.data",
    "models/cli.py:models.explain",
    "models/cli.py:models.score",
    "models/cli.py:models.shards",
    "models/cli.py:models.train",
    "models/config.py:ast",
    "models/gpu_check.py:PIL",
    "models/gpu_check.py:models.loss",
    "models/gpu_check.py:pandas",
    "models/gpu_check.py:scipy",
    "models/harmonize.py:contextlib",
    "models/harmonize.py:models.score",
    "models/networks.py:models.attention",
    "models/networks.py:models.layers",
    "models/networks.py:models.resnet",
    "models/proof.py:clickme_analysis.errors",
    "models/proof.py:models.data",
    "models/proof.py:models.train",
    "models/proof.py:scipy",
    "models/train.py:shutil",
    "models/train.py:threading",
    "reports/cli.py:reports.report",
    "reports/inputs.py:clickme_analysis.archive",
    "reports/page.py:importlib.metadata",
    "reports/page.py:reports.style",
    "reports/parts/clickme.py:clickme_analysis.archive",
    "reports/style.py:cycler",
    "reports/style.py:io",
    "reports/style.py:pathlib",
    "stimuli/build.py:PIL",
    "stimuli/build.py:clickme_analysis.archive",
    "stimuli/build.py:clickme_analysis.config",
    "stimuli/build.py:clickme_analysis.ids",
    "stimuli/build.py:clickme_analysis.progress",
    "stimuli/build.py:skimage.transform",
    "stimuli/cli.py:clickme_analysis.errors",
    "stimuli/cli.py:stimuli.build",
    "stimuli/compose.py:scipy.ndimage",
    "stimuli/demo.py:stimuli.build",
    "stimuli/reveal.py:stimuli._flood_numba",
    "stimuli/scramble.py:skimage.color",
}
#: public functions of five or more parameters with none keyword-only, as path:function.
KNOWN_POSITIONAL_OPTIONS = {
    "clickme_analysis/maps.py:blur_map",
    "clickme_analysis/maps.py:build_maps",
    "clickme_analysis/maps.py:paint_clicks",
    "clickme_analysis/metrics.py:auc_borji",
    "clickme_analysis/metrics.py:auc_shuffled",
    "clickme_analysis/metrics.py:compare_maps",
    "clickme_analysis/metrics.py:fixations_from_map",
    "clickme_analysis/metrics.py:score_maps",
    "clickme_analysis/pipeline.py:make_map_archive",
    "clickme_analysis/pipeline.py:open_logs",
    "clickme_analysis/pipeline.py:write_maps",
    "clickme_analysis/pipeline.py:write_reliability",
    "clickme_analysis/reliability.py:inter_rater_reliability",
    "clickme_analysis/reliability.py:split_half_reliability",
    "clickme_analysis/submissions.py:drop",
    "clickme_analysis/submissions.py:keep",
    "clickme_analysis/synthetic.py:simulate_clicks",
    "clickme_analysis/synthetic.py:simulate_player",
    "clickme_analysis/tfrecord.py:read_clickme_tfrecord",
    "experiments/demo.py:demo_config_text",
    "experiments/demo.py:run_demo",
    "experiments/game/demo.py:play",
    "experiments/game/demo.py:run_demo",
    "experiments/game/partner.py:from_images",
    "experiments/game/play.py:play_round",
    "experiments/game/play.py:run_game",
    "experiments/game/task.py:answer",
    "experiments/game/task.py:next_points",
    "experiments/game/task.py:partner_view",
    "experiments/game/task.py:play_order",
    "experiments/runner.py:run_session",
    "experiments/session.py:conduct",
    "experiments/session.py:observer_plan",
    "experiments/session.py:simulate_session",
    "models/alignment_scoring.py:alignment_rhos",
    "models/alignment_scoring.py:human_reference",
    "models/alignment_scoring.py:score_alignment",
    "models/augment.py:crop_batch",
    "models/augment.py:crop_params",
    "models/data.py:data_source",
    "models/explain.py:explain",
    "models/explain.py:smoothgrad",
    "models/gpu_check.py:harmonized_throughput",
    "models/gpu_check.py:shard_batches",
    "models/gpu_check.py:supervised_run",
    "models/harmonize.py:validate_saliency",
    "models/loss.py:clickme_loss",
    "models/loss.py:map_distance",
    "models/resnet.py:build_model",
    "models/score.py:evaluate",
    "models/score.py:score_model",
    "models/score.py:summarise",
    "models/shards.py:write_shard",
    "models/synthetic.py:synthetic_task",
    "models/train.py:sweep",
    "models/train.py:validate",
    "reports/figures.py:attention_panels",
    "stimuli/build.py:build_stimulus_set",
    "stimuli/reveal.py:race_costs",
}


def project_modules(root: Path | None = None) -> dict[str, Path]:
    """Dotted module name -> file, for every ``.py`` file of the project's packages."""
    root = ROOT if root is None else root
    modules = {}
    for package in PACKAGES:
        for path in sorted((root / package).rglob("*.py")):
            if "node_modules" in path.parts:
                continue
            parts = path.relative_to(root).with_suffix("").parts
            if parts[-1] == "__init__":
                parts = parts[:-1]
            modules[".".join(parts)] = path
    return modules


@functools.cache
def _source(path: Path) -> str:
    return path.read_text(encoding="utf-8")


@functools.cache
def _tree(path: Path) -> ast.Module:
    return ast.parse(_source(path), filename=str(path))


def _imported(node: ast.AST, module: str, is_package: bool) -> list[str]:
    """The dotted names an import statement may load (``from a import b``: ``a`` and ``a.b``)."""
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    if not isinstance(node, ast.ImportFrom):
        return []
    base = node.module or ""
    if node.level:  # relative: resolved against this module's package
        package = module.split(".") if is_package else module.split(".")[:-1]
        package = package[: len(package) - (node.level - 1)]
        base = ".".join(package + ([base] if base else []))
    return [base] + [f"{base}.{alias.name}" for alias in node.names]


def import_graph(modules: dict[str, Path]) -> dict[str, set[str]]:
    """Module -> the project modules it imports anywhere in its body (functions included).

    A name resolves to its longest prefix that is a project module; a module's own package
    (``models`` from ``models.data``) is left out, as Python has imported it already.
    """
    graph = {}
    for module, path in modules.items():
        targets = set()
        for node in ast.walk(_tree(path)):
            for name in _imported(node, module, path.name == "__init__.py"):
                while name and name not in modules:
                    name = name.rpartition(".")[0]
                if name and name != module and not module.startswith(name + "."):
                    targets.add(name)
        graph[module] = targets
    return graph


def circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan, iterative)."""
    index, low, on_stack, stack, found = {}, {}, set(), [], []
    counter = 0
    for start in graph:
        if start in index:
            continue
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = counter
        counter += 1
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def test_the_circle_finder_finds_a_circle_hidden_in_a_function(tmp_path):
    (tmp_path / "models").mkdir()
    (tmp_path / "models" / "__init__.py").write_text("")
    (tmp_path / "models" / "a.py").write_text("from models.b import f\n")
    (tmp_path / "models" / "b.py").write_text("def f():\n    from models import a\n")
    (tmp_path / "models" / "c.py").write_text("from . import a\n")
    graph = import_graph(project_modules(tmp_path))
    assert graph["models.c"] == {"models.a"}
    assert circles(graph) == [["models.a", "models.b"]]


def test_no_import_circles():
    found = circles(import_graph(project_modules()))
    new = [c for c in found if c not in KNOWN_CIRCLES]
    assert not new, "import circles: " + "; ".join(" <-> ".join(c) for c in new)
    gone = [c for c in KNOWN_CIRCLES if c not in found]
    assert not gone, f"circles gone (remove them from KNOWN_CIRCLES): {gone}"


def test_clickme_analysis_imports_nothing_above_it():
    upward = {
        f"{module} -> {target}"
        for module, targets in import_graph(project_modules()).items()
        if module.split(".")[0] == "clickme_analysis"
        for target in targets
        if target.split(".")[0] != "clickme_analysis"
    }
    assert not upward - KNOWN_UPWARD, f"clickme_analysis imports higher packages: {sorted(upward - KNOWN_UPWARD)}"
    assert not KNOWN_UPWARD - upward, f"gone (remove from KNOWN_UPWARD): {sorted(KNOWN_UPWARD - upward)}"


def test_nothing_imports_the_application_shell():
    importers = {
        f"{module} -> {target}"
        for module, targets in import_graph(project_modules()).items()
        if module.split(".")[0] != "clickme_app"
        for target in targets
        if target.split(".")[0] == "clickme_app"
    }
    assert not importers, f"the shell is imported from below: {sorted(importers)}"


def _sizes():
    files, functions = {}, {}
    for path in project_modules().values():
        name = path.relative_to(ROOT).as_posix()
        files[name] = _source(path).count("\n")
        for node in ast.walk(_tree(path)):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                key = f"{name}:{node.name}"
                functions[key] = max(functions.get(key, 0), node.end_lineno - node.lineno + 1)
    return files, functions


@pytest.mark.parametrize("kind", ["files", "functions"])
def test_no_long_files_or_functions_beyond_the_known_ones(kind):
    files, functions = _sizes()
    sizes, limit, known = (
        (files, MAX_FILE_LINES, KNOWN_LONG_FILES)
        if kind == "files"
        else (functions, MAX_FUNCTION_LINES, KNOWN_LONG_FUNCTIONS)
    )
    over = {name for name, size in sizes.items() if size > limit}
    new = sorted(over - known)
    assert not new, f"{kind} over {limit} lines: {[(n, sizes[n]) for n in new]}"
    fixed = sorted(n for n in known if sizes.get(n, 0) <= limit)
    assert not fixed, f"now within {limit} lines (remove from the known list): {fixed}"


#: Modules that may be imported inside a function: heavy optional dependencies (the extras of
#: pyproject.toml, and matplotlib), whose import would otherwise slow every command or fail
#: where an extra is not installed.
HEAVY_OPTIONAL = {
    "torch",
    "torchvision",
    "timm",
    "captum",
    "webdataset",
    "simplejpeg",
    "psychopy",
    "pyglet",
    "matplotlib",
    "fastapi",
    "starlette",
    "uvicorn",
    "sqlalchemy",
    "psycopg",
    "httpx",
    "anyio",
    "playwright",
    "h5py",
    "pyarrow",
    "numba",
    "google_crc32c",
}


def _functions(path: Path):
    for node in ast.walk(_tree(path)):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            yield node


def local_imports(path: Path) -> list[tuple[int, str]]:
    """``(line, module)`` for each import inside a function of ``path`` that is not heavy and optional."""
    found = set()
    for function in _functions(path):
        for node in ast.walk(function):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = ["." * node.level + (node.module or alias.name) for alias in node.names]
            else:
                continue
            found.update((node.lineno, name) for name in names if name.split(".")[0] not in HEAVY_OPTIONAL)
    return sorted(found)


def test_local_import_finder(tmp_path):
    path = tmp_path / "m.py"
    path.write_text(
        "import os\n\ndef f():\n    import torch.nn\n    from pandas import DataFrame\n"
        "    def g():\n        from . import sibling\n"
    )
    assert local_imports(path) == [(5, "pandas"), (7, ".sibling")]


def _found(finder, *, private_modules=True) -> set[str]:
    """``path:name`` for what ``finder`` reports in each project module."""
    return {
        f"{path.relative_to(ROOT).as_posix()}:{name}"
        for path in project_modules().values()
        if private_modules or not path.stem.startswith("_") or path.stem == "__init__"
        for _, name in finder(path)
    }


def test_imports_inside_functions_only_for_heavy_optional_dependencies():
    offenders = _found(local_imports) - KNOWN_LOCAL_IMPORTS
    assert not offenders, "move these imports to the top of their module:\n" + "\n".join(sorted(offenders))


def keyword_only_missing(path: Path, at_least: int = 5) -> list[tuple[int, str]]:
    """Public functions of ``path`` with ``at_least`` parameters or more and none keyword-only."""
    missing = []
    for node in _functions(path):
        if node.name.startswith("_"):
            continue
        args = node.args
        positional = [a.arg for a in args.posonlyargs + args.args if a.arg not in ("self", "cls")]
        if len(positional) + len(args.kwonlyargs) >= at_least and not args.kwonlyargs:
            missing.append((node.lineno, node.name))
    return missing


def test_keyword_only_finder(tmp_path):
    path = tmp_path / "m.py"
    path.write_text(
        "def a(x, b, c, d, e): ...\ndef b(x, *, b, c, d, e): ...\ndef _c(x, b, c, d, e): ...\n"
        "class K:\n    def m(self, a, b, c, d): ...\n    def n(self, a, b, c, d, e): ...\n"
    )
    assert keyword_only_missing(path) == [(1, "a"), (6, "n")]


def test_functions_with_five_or_more_parameters_take_their_options_by_keyword():
    """Private modules (``_paint_numba``: numba kernels, which take no keyword-only arguments) aside."""
    offenders = _found(keyword_only_missing, private_modules=False) - KNOWN_POSITIONAL_OPTIONS
    assert not offenders, "make the options keyword-only (after a `*`):\n" + "\n".join(sorted(offenders))
