"""Packaging: one version, the citation and changelog follow it, package data covers every data file,
``clickme configs`` gives the bundled files back byte for byte, and a foreign ``models`` is named."""

from __future__ import annotations

import fnmatch
import json
import os
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

import clickme_analysis
from clickme_analysis.install_check import GENERIC_PACKAGES, MARKER
from clickme_app.configs import bundled_configs, config_text, describe

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))


def test_version_has_one_source_that_citation_and_changelog_follow():
    version = clickme_analysis.__version__
    assert PYPROJECT["project"]["dynamic"] == ["version"]
    assert PYPROJECT["tool"]["setuptools"]["dynamic"]["version"] == {"attr": "clickme_analysis.__version__"}
    citation = (ROOT / "CITATION.cff").read_text(encoding="utf-8")
    assert f"\nversion: {version}\n" in citation
    assert "preferred-citation:" in citation and 'title: "Learning what and where to attend"' in citation
    changelog = (ROOT / "CHANGELOG.md").read_text(encoding="utf-8")
    assert f"\n## [{version}] - " in changelog and "\n## [Unreleased]\n" in changelog
    assert (ROOT / "LICENSE").read_text(encoding="utf-8").startswith("MIT License")


def _package_of(path: Path, packages: list[str]) -> str | None:
    """The deepest listed package holding ``path`` (a file inside the checkout)."""
    parts = path.relative_to(ROOT).parts
    for depth in range(len(parts) - 1, 0, -1):
        name = ".".join(parts[:depth])
        if name in packages:
            return name
    return None


def _tracked_files() -> list[Path]:
    out = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True)
    if out.returncode != 0:
        pytest.skip(f"not a git checkout: {out.stderr.strip()}")
    return [ROOT / line for line in out.stdout.splitlines()]


def test_every_data_file_of_a_package_is_package_data():
    patterns = PYPROJECT["tool"]["setuptools"]["package-data"]
    roots = [p.rstrip("*") for p in PYPROJECT["tool"]["setuptools"]["packages"]["find"]["include"]]
    data = [
        f
        for f in _tracked_files()
        if f.suffix != ".py" and f.name != ".gitignore" and any(f.relative_to(ROOT).parts[0] == r for r in roots)
    ]
    assert data, "expected data files (configs, web pages) inside the packages"
    missing = []
    for path in data:
        package = _package_of(path, list(patterns))
        inner = path.relative_to(ROOT / Path(*package.split("."))).as_posix() if package else None
        if inner is None or not any(fnmatch.fnmatch(inner, p.replace("**/", "*")) for p in patterns[package]):
            missing.append(path.relative_to(ROOT).as_posix())
    assert not missing, f"not matched by [tool.setuptools.package-data]: {missing}"


def test_every_generic_package_carries_the_marker():
    for name in GENERIC_PACKAGES:
        assert MARKER in (ROOT / name / "__init__.py").read_text(encoding="utf-8"), name


def test_bundled_configs_are_the_files_byte_for_byte():
    configs = bundled_configs()
    on_disk = sorted((ROOT / "models" / "configs").rglob("*.toml"))
    assert {f"{p.parent.name}/{p.stem}" for p in on_disk} | {"experiment/lab_config"} == set(configs)
    for path in on_disk:
        assert config_text(f"{path.parent.name}/{path.stem}") == path.read_text(encoding="utf-8")
    assert config_text("experiment/lab_config") == (ROOT / "experiments" / "lab_config.toml").read_text("utf-8")
    assert describe(config_text("clickme/gala_clickme")).startswith("Paper Table 3 row")


def _python(code: str, path: list[Path], cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(map(str, path))}
    return subprocess.run([sys.executable, "-c", code], env=env, cwd=cwd, capture_output=True, text=True, timeout=120)


def test_a_foreign_models_package_is_named_with_its_distribution(tmp_path):
    site = tmp_path / "site"
    (site / "models").mkdir(parents=True)
    (site / "models" / "__init__.py").write_text('"""Someone else\'s models."""\n')
    info = site / "othermodels-2.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: othermodels\nVersion: 2.0\n")
    (info / "top_level.txt").write_text("models\n")
    (info / "RECORD").write_text("models/__init__.py,,\n")
    code = (
        "import json, warnings\nwarnings.simplefilter('always')\n"
        "with warnings.catch_warnings(record=True) as caught:\n    import clickme_analysis\n"
        "from clickme_analysis.install_check import foreign_packages\n"
        f"print(json.dumps([[str(w.message) for w in caught], foreign_packages(['models'], home={str(site)!r})]))"
    )
    # shadowed: the foreign folder comes first on the path
    warned, overwritten = json.loads(_python(code, [site, ROOT], tmp_path).stdout)
    assert len(warned) == 1 and "'models'" in warned[0] and "'othermodels'" in warned[0]
    assert "shadows this toolkit's package" in warned[0]
    # overwritten: as if both were installed into one folder and the other's __init__.py won
    assert len(overwritten) == 1 and "overwrote this toolkit's files" in overwritten[0]
    # and the toolkit alone is quiet
    quiet = _python("import warnings\nwarnings.simplefilter('error')\nimport clickme_analysis", [ROOT], tmp_path)
    assert quiet.returncode == 0, quiet.stderr


def test_clickme_version_and_configs_through_the_dispatcher(capsys):
    from clickme_app.cli import main

    with pytest.raises(SystemExit) as done:
        main(["--version"])
    assert done.value.code == 0 and capsys.readouterr().out == f"clickme {clickme_analysis.__version__}\n"
    assert main(["configs", "list"]) == 0
    listing = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in listing] == list(bundled_configs())
    assert main(["configs", "show", "clickme/resnet50"]) == 0
    assert capsys.readouterr().out == (ROOT / "models" / "configs" / "clickme" / "resnet50.toml").read_text("utf-8")
    assert main(["configs", "show", "clickme/resnet5O"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("clickme configs: error: field 'NAME'") and "clickme/resnet50" in err
