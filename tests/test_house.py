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
#: The KNOWN_* sets hold one entry a line, so that merges of removals do not collide.
# fmt: off
#: Files over MAX_FILE_LINES today, many of them grown by `ruff format` (remove a file from here when it is split).
KNOWN_LONG_FILES: set[str] = set()
#: Functions over MAX_FUNCTION_LINES today, as "path:name".
KNOWN_LONG_FUNCTIONS: set[str] = set()

#: Issue 21 step 8, today's offenders (remove an entry when it is fixed; a new one fails):
#: imports inside functions of modules that are not heavy and optional, as path:module;
KNOWN_LOCAL_IMPORTS: set[str] = set()
#: public functions of five or more parameters with none keyword-only, as path:function.
KNOWN_POSITIONAL_OPTIONS: set[str] = set()
# fmt: on


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
#: where an extra is not installed. The project's own compiled kernels (``_*_numba`` modules,
#: thin wrappers that import numba) count as numba, and so does a project module whose import
#: loads one of them that the importing module does not (:func:`heavy_dependencies`).
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
    # Core dependencies that only some subcommands need and that each add 0.1-0.4 s to every
    # `clickme` start when imported at the top of a CLI module (measured with -X importtime).
    "scipy.stats",
    "scipy.ndimage",
    "statsmodels",
    "importlib.metadata",
}


def _heavy_names(names) -> set[str]:
    """The entries of HEAVY_OPTIONAL that the dotted ``names`` load (``scipy.stats.norm``: ``scipy.stats``)."""
    return {heavy for name in names for heavy in HEAVY_OPTIONAL if name == heavy or name.startswith(heavy + ".")}


def _functions(path: Path):
    for node in ast.walk(_tree(path)):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            yield node


def _top_level_imports(module: str, path: Path) -> set[str]:
    """The dotted names ``module`` imports when it is imported (statements outside functions and classes)."""
    names, todo = set(), list(_tree(path).body)
    while todo:
        node = todo.pop()
        if isinstance(node, (ast.If, ast.Try)):
            todo.extend(node.body + node.orelse + getattr(node, "finalbody", []))
            todo.extend(child for handler in getattr(node, "handlers", []) for child in handler.body)
        names.update(_imported(node, module, path.name == "__init__.py"))
    return names


@functools.cache
def heavy_dependencies() -> dict[str, frozenset[str]]:
    """Project module -> the heavy optional dependencies (torch, matplotlib, ...) its import loads.

    A function may import a project module inside its body when that defers one of these that its
    own module does not load: that is how ``clickme --help`` stays free of torch while ``clickme
    train`` loads it.
    """
    modules = project_modules()

    def owner(name):
        while name and name not in modules:
            name = name.rpartition(".")[0]
        return name

    direct, deps = {}, {}
    for module, path in modules.items():
        names = _top_level_imports(module, path)
        direct[module] = _heavy_names(names)
        parents = {".".join(module.split(".")[:k]) for k in range(1, module.count(".") + 1)}
        deps[module] = ({owner(n) for n in names if owner(n)} | parents) - {module}
    loads = {m: set(d) for m, d in direct.items()}
    grew = True
    while grew:
        grew = False
        for module, children in deps.items():
            extra = set().union(*(loads[c] for c in children if c in loads)) - loads[module]
            if extra:
                loads[module] |= extra
                grew = True
    return {m: frozenset(d) for m, d in loads.items()}


def _heavy_optional(module: str, importer: str | None = None) -> bool:
    """Whether ``importer`` may import ``module`` inside a function: a heavy optional dependency,
    the project's numba kernels, or a project module whose import loads a heavy dependency that
    ``importer``'s own import does not (so the import really is deferred)."""
    last = module.rsplit(".", 1)[-1]
    if _heavy_names([module]) or (last.startswith("_") and last.endswith("_numba")):
        return True
    loads = heavy_dependencies()
    name = module
    while name and name not in loads:
        name = name.rpartition(".")[0]
    return bool(name) and bool(loads[name] - loads.get(importer, frozenset()))


@functools.cache
def _module_names() -> dict[Path, str]:
    """File -> dotted module name, for every project module (the inverse of :func:`project_modules`)."""
    return {path: module for module, path in project_modules().items()}


def local_imports(path: Path) -> list[tuple[int, str]]:
    """``(line, module)`` for each import inside a function of ``path`` that is not heavy and optional."""
    found = set()
    importer = _module_names().get(path)
    for function in _functions(path):
        for node in ast.walk(function):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                dots = "." * node.level
                # `from a import b` may load the module a.b: allowed when that one is heavy
                full = [dots + (f"{node.module}.{a.name}" if node.module else a.name) for a in node.names]
                names = [
                    dots + (node.module or alias.name)
                    for alias, loaded in zip(node.names, full, strict=True)
                    if not _heavy_optional(loaded, importer)
                ]
            else:
                continue
            found.update((node.lineno, name) for name in names if not _heavy_optional(name, importer))
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
    found = _found(local_imports)
    offenders = found - KNOWN_LOCAL_IMPORTS
    assert not offenders, "move these imports to the top of their module:\n" + "\n".join(sorted(offenders))
    fixed = KNOWN_LOCAL_IMPORTS - found
    assert not fixed, "fixed: remove from KNOWN_LOCAL_IMPORTS:\n" + "\n".join(sorted(fixed))


def keyword_only_missing(path: Path, at_least: int = 5) -> list[tuple[int, str]]:
    """Public functions of ``path`` with ``at_least`` parameters or more and none keyword-only
    (an autograd Function's ``forward(ctx, ...)`` aside: ``apply`` passes every argument by place)."""
    missing = []
    for node in _functions(path):
        args = node.args
        if node.name.startswith("_") or [a.arg for a in args.args[:1]] == ["ctx"]:
            continue
        positional = [a.arg for a in args.posonlyargs + args.args if a.arg not in ("self", "cls")]
        if len(positional) + len(args.kwonlyargs) >= at_least and not args.kwonlyargs:
            missing.append((node.lineno, node.name))
    return missing


def test_keyword_only_finder(tmp_path):
    path = tmp_path / "m.py"
    path.write_text(
        "def a(x, b, c, d, e): ...\ndef b(x, *, b, c, d, e): ...\ndef _c(x, b, c, d, e): ...\n"
        "class K:\n    def m(self, a, b, c, d): ...\n    def n(self, a, b, c, d, e): ...\n"
        "class F:\n    def forward(ctx, a, b, c, d, e): ...\n"
    )
    assert keyword_only_missing(path) == [(1, "a"), (6, "n")]


def test_functions_with_five_or_more_parameters_take_their_options_by_keyword():
    """Private modules (``_paint_numba``: numba kernels, which take no keyword-only arguments) aside."""
    found = _found(keyword_only_missing, private_modules=False)
    offenders = found - KNOWN_POSITIONAL_OPTIONS
    assert not offenders, "make the options keyword-only (after a `*`):\n" + "\n".join(sorted(offenders))
    fixed = KNOWN_POSITIONAL_OPTIONS - found
    assert not fixed, "fixed: remove from KNOWN_POSITIONAL_OPTIONS:\n" + "\n".join(sorted(fixed))
