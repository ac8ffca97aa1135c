"""Every command the README shows runs as written on the demo's outputs.

The commands are parsed from README.md itself (the subcommand table's examples, the prose's
inline code and the ``bash`` blocks), so this test follows the README as it changes. Optional
parts in brackets (``[--resume]``) are left out; ``clickme COMMAND --help`` runs for every
subcommand. Inputs a user brings (``clicks.csv``, ``tiny.toml``, a game log) are supplied from a
small demo output built once per session (:data:`USER_FILES`). Commands run from a scratch
"clone" folder holding ``demo_output/``, in README order, so one command's output feeds the next
(``maps.npz`` -> ``metrics``, ``runs/sweep`` -> ``explain``). Commands that train networks or
run the whole demo are marked slow; the rest run in the default suite.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
SHARED = ROOT.parent / "shared"

#: Commands that cannot run in a test, each with the reason (matched as a prefix).
SKIP = {
    "clickme experiment run --config experiments/lab_config.toml": (
        "a lab session: a person at the keyboard in front of a full-screen window"
    ),
    "clickme game --images my_images/": (
        "a lab session: a person with a mouse, on their own images and a trained partner"
    ),
    "clickme serve export ": (
        "exports a database that holds participants' data: the browser test of tests/online runs it on one"
    ),
    "clickme train --config models/configs/": (
        "the paper's recipes train on the ClickMe / ILSVRC12 images (tests/models/test_configs.py checks every file)"
    ),
    "torchrun ": "multi-process training on several GPUs with the paper's ImageNet configs",
    "clickme alignment --timm resnet50=resnet50.pth": (
        "the user's ImageNet ResNet-50 weights (nothing may be downloaded at run time)"
    ),
    "clickme maps --out ": (
        "a fragment in prose naming an option (`written by clickme maps --out maps.h5`), not a command"
    ),
}

#: Commands left to ``make test-slow`` (matched as a prefix): they train networks, run the whole
#: pipeline or run 10,000-permutation tests (38 s on 2 loaded cores), each a minute or more.
SLOW = (
    "clickme train ",
    "clickme score ",
    "clickme explain ",
    "clickme demo ",
    "clickme experiment analyze demo_output/",
)

#: Files a README example expects the user to have -> where the demo output has one.
USER_FILES = {
    "clicks.csv": "demo_output/clickme/clicks.csv",
    "labels.csv": "demo_output/clickme/labels.csv",
    "logs/clicks.csv": "demo_output/clickme/clicks.csv",
    "saliency.npz": "demo_output/clickme/saliency_maps.npz",
    "game_data/game_log.jsonl": "demo_output/game/game_log.jsonl",
}


def _write_formats(folder: Path) -> None:
    """The demo's clicks in the other click-log formats the README's format table shows."""
    import numpy as np
    import pandas as pd

    clicks = pd.read_csv(folder / "demo_output" / "clickme" / "clicks.csv")
    clicks.to_parquet(folder / "clicks.parquet")
    rounds = clicks.groupby(["image_id", "participant_id"], sort=False)
    points = (
        rounds.apply(lambda r: "{" + ",".join(f"({x:g},{y:g})" for x, y in zip(r.x, r.y)) + "}", include_groups=False)
        .rename("clicks")
        .reset_index()
    )
    points.rename(columns={"image_id": "image_path", "participant_id": "user_id"}).assign(
        image_path=lambda f: "demo/" + f["image_path"] + ".png"
    ).to_csv(folder / "clickme_vCO3D.csv", index=False)
    keys = list(rounds.groups)

    def ragged(column):
        return np.array([rounds.get_group(k)[column].to_numpy() for k in keys] + [None], dtype=object)[:-1]

    np.savez(
        folder / "clickme_data.npz",
        file_pointer=np.array([f"demo/{i}.png" for i, _ in keys]),
        clickmap_x=ragged("x"),
        clickmap_y=ragged("y"),
        user_id=np.array([u for _, u in keys]),
        user_catch_trial=np.ones(len(keys)),
        is_mobile=np.array([np.array([])] * len(keys) + [None], dtype=object)[:-1],
    )
    _write_map_formats(folder, clicks)


def _write_map_formats(folder: Path, clicks) -> None:
    """The demo's maps as a ClickMe 2.0 HDF5 file, SALICON-style map folders and fixation JSON,
    and its images and maps as Harmonization-layout JPEG TFRecords."""
    import io
    import json

    import numpy as np
    from PIL import Image

    from clickme_analysis.archive import open_maps, write_clickme2_hdf5
    from clickme_analysis.tfrecord import write_tfrecord

    demo = folder / "demo_output" / "clickme"
    with open_maps(demo / "maps.npz") as human, open_maps(demo / "saliency_maps.npz") as saliency:
        write_clickme2_hdf5(folder / "clickme2_maps.h5", {i: human[i] for i in human})
        for name, maps in (("model_maps", saliency), ("salicon/maps/val", human)):
            (folder / name).mkdir(parents=True)
            for image_id in maps:
                m = maps[image_id]
                gray = np.round(255 * (m - m.min()) / max(float(np.ptp(m)), 1e-12)).astype(np.uint8)
                Image.fromarray(gray).save(folder / name / f"{image_id}.png")
        shape = human[next(iter(human))].shape
        ids = list(human)
        jpeg = {}
        for image_id in ids:
            m = human[image_id]
            for key, array in (
                ("image", np.asarray(Image.open(demo / "images" / f"{image_id}.png").convert("RGB"))),
                ("heatmap", np.round(255 * m / max(float(m.max()), 1e-12)).astype(np.uint8)),
            ):
                buffer = io.BytesIO()
                Image.fromarray(array).save(buffer, format="JPEG", quality=90)
                jpeg[image_id, key] = buffer.getvalue()
    (folder / "model.npz").write_bytes((demo / "saliency_maps.npz").read_bytes())
    salicon = {
        "images": [
            {"id": k, "file_name": f"{i}.png", "height": shape[0], "width": shape[1]} for k, i in enumerate(ids)
        ],
        "annotations": [
            {
                "image_id": ids.index(i),
                "worker_id": str(p),
                "fixations": [
                    [int(y) + 1, int(x) + 1] for x, y in zip(r.x, r.y) if 0 <= x < shape[1] and 0 <= y < shape[0]
                ],
            }
            for (i, p), r in clicks.groupby(["image_id", "participant_id"])
            if i in ids
        ],
    }
    (folder / "fixations_val2014.json").write_text(json.dumps(salicon))
    (folder / "clickme" / "val").mkdir(parents=True)
    write_tfrecord(
        folder / "clickme" / "val" / "val-0.tfrecords",
        [{"image": jpeg[i, "image"], "heatmap": jpeg[i, "heatmap"], "label": k % 2} for k, i in enumerate(ids)],
    )


#: Top-level folders of the source tree: no README example may write into one of them.
SOURCE_FOLDERS = sorted(
    {p.parent.name for p in ROOT.glob("*/__init__.py")} | {"docs", "tests", "benchmarks", "scripts"}
)


@dataclass(frozen=True)
class Command:
    line: int
    text: str

    @property
    def subcommand(self) -> str:
        words = shlex.split(self.text)
        words = words[words.index("clickme") + 1 :] if "clickme" in words else words
        return words[0] if words else ""

    def __str__(self) -> str:
        return f"README.md:{self.line}: {self.text}"


def _clean(text: str) -> str:
    """A command as run: optional ``[...]`` parts left out, white space folded."""
    text, previous = text.replace("\\\n", " "), None
    while previous != text:  # innermost brackets first
        previous, text = text, re.sub(r"\s*\[[^\[\]]*\]", "", text)
    return " ".join(text.split())


def _is_command(text: str) -> bool:
    words = text.split()
    starts = words[:1] == ["clickme"] or words[:3] == ["xvfb-run", "-a", "clickme"] or words[:1] == ["torchrun"]
    # `clickme maps` alone names a subcommand in prose; a command has arguments
    return starts and len(words) > 2 and any(w.startswith("-") or "/" in w or "." in w for w in words[2:])


def readme_commands(text: str) -> list[Command]:
    """Every command in the README: inline code in tables and prose, and ``bash`` block lines."""
    commands, in_block, block = [], False, []
    for number, line in enumerate(text.splitlines(), start=1):
        if line.startswith("```"):
            in_block = not in_block
            continue
        if in_block:
            block.append(line)
            if not line.rstrip().endswith("\\"):
                joined = _clean(re.sub(r"\s+#.*", "", "\n".join(block)))
                if _is_command(joined):
                    commands.append(Command(number - len(block) + 1, joined))
                block = []
            continue
        if line.lstrip().startswith("#"):
            continue  # headings name subcommands
        for span in re.findall(r"`([^`]+)`", line):
            span = _clean(span)
            if _is_command(span):
                commands.append(Command(number, span))
    return commands


def _expand(commands: list[Command]) -> list[Command]:
    """``clickme COMMAND --help`` -> one ``--help`` per subcommand of the dispatcher."""
    from clickme_app.cli import build_parser

    parser = build_parser()
    names = next(a for a in parser._actions if a.dest == "command").choices
    out = []
    for command in commands:
        if "COMMAND" in command.text:
            out += [Command(command.line, command.text.replace("COMMAND", name)) for name in names]
        else:
            out.append(command)
    return out


COMMANDS = _expand(readme_commands(README.read_text(encoding="utf-8")))


def _skip_reason(command: Command) -> str | None:
    return next((reason for prefix, reason in SKIP.items() if command.text.startswith(prefix)), None)


def _param(command: Command):
    marks = [pytest.mark.slow] if command.text.startswith(SLOW) else []
    return pytest.param(command, marks=marks, id=f"L{command.line}-{command.text[:60]}")


def _tiny_toml() -> str:
    """The ``tiny.toml`` docs/models.md gives (the README's train examples use it)."""
    text = (ROOT / "docs" / "models.md").read_text(encoding="utf-8")
    match = re.search(r"`tiny\.toml`[^\n]*\n+```toml\n(.*?)```", text, re.S)
    assert match, "docs/models.md no longer shows tiny.toml after naming it"
    return match.group(1)


@pytest.fixture(scope="session")
def clone(tmp_path_factory):
    """A scratch folder standing for the clone's root: ``demo_output/`` and the user's files.

    The demo output holds the stages the cheap commands read (ClickMe maps, stimuli, the
    simulated experiment, the game, all window-free); ``../shared`` points at the real one.
    """
    import importlib

    base = tmp_path_factory.mktemp("readme")
    folder = base / "clone"
    folder.mkdir()
    if SHARED.is_dir():
        (base / "shared").symlink_to(SHARED)
    # built elsewhere and moved in: outputs that only work where they were written (absolute
    # paths in the demo's config.toml, say) fail here as they would for a user who moves them
    built = base / "elsewhere" / "demo_output"
    built.mkdir(parents=True)
    stages = [
        ("clickme_analysis.demo", {}),
        ("stimuli.demo", {}),
        ("experiments.demo", {"window": "none"}),
        ("experiments.game.demo", {"window": "none"}),
    ]
    for module, options in stages:
        importlib.import_module(module).run_demo(built, seed=0, progress=False, **options)
    demo = folder / "demo_output"
    shutil.move(built, demo)
    for name, source in USER_FILES.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(folder / source, folder / name)
    shutil.copyfile(demo / "clickme" / "maps.npz", folder / "maps.npz")  # also written by `maps`
    (folder / "tiny.toml").write_text(_tiny_toml(), encoding="utf-8")
    _write_formats(folder)
    from clickme_app.cli import main

    main(["maps", str(demo / "clickme" / "clicks.csv"), "--out", str(folder / "pred.h5")])  # a map store
    return folder


def test_readme_has_commands():
    subcommands = {c.subcommand for c in COMMANDS}
    assert {"maps", "reliability", "metrics", "report", "demo", "train"} <= subcommands, subcommands


@pytest.mark.parametrize("command", [_param(c) for c in COMMANDS])
def test_readme_command_runs(command, clone):
    reason = _skip_reason(command)
    if reason:
        pytest.skip(reason)
    words = shlex.split(command.text)
    if words[0] == "xvfb-run" and shutil.which("xvfb-run") is None:
        pytest.skip("xvfb-run is not installed (make system-deps)")
    if "../shared/realdata" in command.text and not (SHARED / "realdata").is_dir():
        pytest.skip(f"real data not available at {SHARED / 'realdata'}")
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    done = subprocess.run(
        ["bash", "-c", command.text], cwd=clone, env=env, capture_output=True, text=True, timeout=1800
    )
    assert done.returncode == 0, (
        f"{command}\nexit {done.returncode}\nstderr: {done.stderr[-3000:]}\nstdout: {done.stdout[-1000:]}"
    )
    assert "Traceback" not in done.stderr


def _outputs(command: Command) -> list[str]:
    words = shlex.split(command.text)
    return [words[k + 1] for k, w in enumerate(words[:-1]) if w in ("--out", "--data", "--stats", "--per-image")]


@pytest.mark.parametrize("command", [pytest.param(c, id=f"L{c.line}") for c in COMMANDS])
def test_readme_command_writes_outside_the_source_tree(command):
    """Run from the clone's root (as ``make demo`` is), no example may write into a package."""
    for out in _outputs(command):
        top = Path(out).parts[0]
        assert top not in SOURCE_FOLDERS, f"{command} writes into the source folder {top}/"


def test_parser_reads_tables_blocks_and_brackets():
    text = (
        "| `maps` | `clickme maps a.csv --out m.npz [--min-clicks N]` | below |\n"
        "### `clickme maps`\n"
        "```bash\n"
        "clickme maps logs/*.csv --out maps.npz \\\n"
        "    [--size 256] [--bubble square|disc]\n"
        "make demo   # not clickme\n"
        "```\n"
        "feed `clickme reliability`; a log: `clickme maps g.jsonl --out g.npz`.\n"
    )
    assert [(c.line, c.text) for c in readme_commands(text)] == [
        (1, "clickme maps a.csv --out m.npz"),
        (4, "clickme maps logs/*.csv --out maps.npz"),
        (8, "clickme maps g.jsonl --out g.npz"),
    ]
