"""Gather the toolkit's outputs into figures, tables and one self-contained ``report.html``.

The report reads the files of ``docs/outputs.md`` under an inputs root (``clickme/``, ``stimuli/``,
``experiment/``, ``models/``, ``alignment/``, ``game/``) and writes

- ``OUT/report.html``: every figure embedded as a base64 PNG, a caption under each, the tables,
  and the list of parts that are missing or could not be used;
- ``OUT/figures/<name>.pdf`` and ``.png``;
- ``OUT/tables/<name>.md``, ``.tex`` and ``.csv``.

A missing input file is not an error: the part that needs it is listed as missing. A present
file that breaks the contract (a missing column, an unreadable array) is listed with the reason
and the rest of the report is still built.

The layers: :mod:`reports.inputs` reads the files, :mod:`reports.provenance` says who produced
each stage's data, :mod:`reports.parts` builds each section's figures and tables (with
:mod:`reports.figures` and :mod:`reports.tables`), :mod:`reports.page` writes them out; this
module lists the sections (:data:`SECTIONS`) and runs them (:func:`gather`, :func:`build_report`).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from clickme_analysis.errors import InputError
from clickme_analysis.progress import progress as progress_bar
from reports.inputs import Missing
from reports.page import write_report
from reports.parts import Gathered, Item, alignment, clickme, game, models, planning, proof, psychophysics, stimuli
from reports.provenance import provenance, provenance_table

#: The report's sections, in order: (part builder, its main input relative to the root; a
#: figure or table function's complaint about the data is located in that file).
SECTIONS: dict[str, list[tuple[Callable[[Path], list[Item]], str]]] = {
    "ClickMe maps": [
        (clickme.clickme_maps, "clickme/maps.npz"),
        (clickme.participants, "clickme/participants_per_image.csv"),
        (clickme.reliability, "clickme/reliability_per_image.csv"),
        (clickme.reliability_summary, "clickme/reliability_summary.json"),
        (clickme.metrics, "clickme/metrics.csv"),
    ],
    "Stimuli": [(stimuli.contact_sheets, "stimuli/manifest.csv")],
    "Psychophysics": [
        (psychophysics.psychophysics, "experiment/accuracy.csv"),
        (psychophysics.thresholds, "experiment/psychometric_params.csv"),
        (psychophysics.statistics_part, "experiment/rt.csv"),
    ],
    "Models": [
        (models.model_scores, "models/scores.csv"),
        (models.lambda_sweep, "models/sweep.csv"),
        (models.training_curves, "models/curves.csv"),
        (models.attention, "models/attention.npz"),
        (models.explain_pngs, "models/explain"),
        (proof.proof_part, "models/proof_runs.csv"),
    ],
    "Alignment and model psychophysics": [
        (alignment.alignment_part, "alignment/alignment_summary.csv"),
        (alignment.model_psychophysics_part, "alignment/psychophysics_accuracy.csv"),
    ],
    "ClickMe game": [
        (game.game_maps, "game/maps.npz"),
        (game.game_statistics, "game/game_statistics.csv"),
        (game.learning_check, "game/learning_check.csv"),
    ],
    "Planning": [(planning.power_part, "planning/power.csv"), (planning.curve_part, "clickme/reliability_curve.csv")],
}


def gather(inputs, progress: bool = False) -> Gathered:
    """Build every report part whose inputs exist under ``inputs``.

    Parameters
    ----------
    inputs : str or os.PathLike
        The outputs root (``clickme/``, ``stimuli/``, ``experiment/``, ``models/`` below it).
    progress : bool
        Show a tqdm bar over the parts.

    Returns
    -------
    Gathered
        Items per section; ``missing`` lists absent inputs, ``problems`` the inputs that were
        present but unusable (with the reason), ``provenance`` who produced each stage's data
        (:func:`provenance`). Parts built from simulated data say so in their caption, and the
        first section ("Data") tabulates the provenance.
    """
    root = Path(inputs)
    if not root.is_dir():
        raise InputError("expected a directory of toolkit outputs", path=root)
    result = Gathered(inputs=root)
    try:
        result.provenance = provenance(root)
    except InputError as err:
        result.problems.append(f"Data: provenance: {err}")
    if result.provenance:
        result.sections["Data"] = [
            Item(
                "provenance",
                "Where the data come from",
                "Who produced each stage's data, as the stage recorded it (session records, or the "
                "demo's log). Parts built from simulated data say so in their captions.",
                provenance_table(result.provenance),
            )
        ]
    parts = [(section, *part) for section, section_parts in SECTIONS.items() for part in section_parts]
    for section, build, main_input in progress_bar(parts, enabled=progress, desc="report parts"):
        name = build.__name__.strip("_").replace("_", " ")
        try:
            items = build(root)
        except Missing as err:
            result.missing.append(f"{section}: {name} (needs {err})")
            continue
        except InputError as err:
            if err.path is None:
                err = InputError(err.message, path=root / main_input, line=err.line, field=err.field)
            result.problems.append(f"{section}: {name}: {err}")
            continue
        origin = result.provenance.get(main_input.split("/")[0])
        for item in items if origin is not None and origin.note else ():
            item.caption = f"{item.caption} {origin.note}"
        if items:
            result.sections.setdefault(section, []).extend(items)
    return result


def build_report(inputs: Path, out: Path, progress: bool = False) -> Path:
    """Gather the outputs under ``inputs`` and write ``out/report.html`` (and figures, tables).

    Parameters
    ----------
    inputs : pathlib.Path
        The outputs root of ``clickme demo`` (``clickme/``, ``stimuli/``, ``experiment/``,
        ``models/``).
    out : pathlib.Path
        Report folder; created if needed.
    progress : bool
        Show a tqdm bar over the report parts.

    Returns
    -------
    pathlib.Path
        The path of ``report.html``.
    """
    return write_report(gather(inputs, progress=progress), out)
