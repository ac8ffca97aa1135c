import pandas as pd
import pytest

from clickme_app.cli import main
from experiments.design import latin_square, load_manifest

from .conftest import make_stimuli


def test_run_no_window_then_analyze(config_file, tmp_path, capsys):
    data = tmp_path / "data"
    for k in range(16):  # two per group x list x key-map cell: enough for the mixed model
        assert (
            main(
                [
                    "experiment",
                    "run",
                    "--config",
                    str(config_file),
                    "--participant",
                    f"P{k:02d}",
                    "--simulate",
                    "--no-window",
                    "--data",
                    str(data),
                ]
            )
            == 0
        )
    out = tmp_path / "out"
    import json

    record = json.loads((data / "P03.json").read_text())  # issue 21: a partial session went unremarked
    (data / "P03.json").write_text(json.dumps({**record, "status": "aborted", "n_trials": record["n_trials"] + 5}))
    capsys.readouterr()
    assert main(["experiment", "analyze", str(data), "--out", str(out), "--permutations", "200", "--boot", "20"]) == 0
    printed = capsys.readouterr().out
    done = record["n_trials"]
    assert f"1 partial session(s), included in the analysis: P03 (aborted, {done} of {done + 5} trials)" in printed
    acc = pd.read_csv(out / "accuracy.csv")
    assert {"group", "level", "accuracy", "sem", "n_participants"} <= set(acc.columns)
    assert set(acc["group"]) == {"clickme", "saliency"} and (acc["n_participants"] <= 8).all()
    tests = pd.read_csv(out / "level_tests.csv")
    assert {"level", "statistic", "p", "p_holm", "significant"} <= set(tests.columns)
    curve = pd.read_csv(out / "psychometric.csv")
    assert {"group", "level", "predicted", "ci_low", "ci_high"} <= set(curve.columns)


def test_cli_bad_input_exits_2(config_file, tmp_path, capsys):
    assert (
        main(
            [
                "experiment",
                "run",
                "--config",
                str(tmp_path / "none.toml"),
                "--participant",
                "P1",
                "--simulate",
                "--no-window",
            ]
        )
        == 2
    )
    assert "none.toml: configuration file not found" in capsys.readouterr().err
    assert main(["experiment", "run", "--config", str(config_file), "--participant", "P1", "--no-window"]) == 2
    assert "--no-window needs --simulate" in capsys.readouterr().err
    bad = tmp_path / "bad.csv"
    bad.write_text("participant,group\nP1,a\n")
    assert main(["experiment", "analyze", str(bad), "--out", str(tmp_path / "o")]) == 2
    assert "lacks columns" in capsys.readouterr().err


def test_analyze_events(tmp_path, capsys):
    folder = tmp_path / "bids"
    folder.mkdir()
    (folder / "sub-01_ses-01_task-gonogo_run-1_events.tsv").write_text(
        "onset\tduration\ttrial_type\tresponse_time\tstim_file\tvalue\n"
        "1\tn/a\tstimulus\t400\ta.jpg\tanimal_target\n1.4\tn/a\tresponse\tn/a\tn/a\tcorrect\n"
        "3\tn/a\tstimulus\tn/a\tb.jpg\tanimal_distractor\n"
        "5\tn/a\tstimulus\t50\tc.jpg\tanimal_target\n"
    )
    assert main(["experiment", "analyze", "--events", str(folder), "--out", str(tmp_path / "o")]) == 0
    summary = pd.read_csv(tmp_path / "o" / "participants.csv")
    assert summary[["participant", "n_included", "n_too_fast", "accuracy", "median_rt"]].values.tolist() == [
        ["sub-01", 2, 1, 1.0, 0.4]
    ]


def test_demo_window_free(tmp_path):
    from experiments.demo import run_demo

    stim = tmp_path / "stimuli"
    manifest = load_manifest(make_stimuli(stim, n_images=8, levels=(1.0, 3.0, 10.0, 30.0, 100.0)))
    latin_square(manifest).drop(columns="map_source").to_csv(stim / "assignment.csv", index=False)
    run_demo(tmp_path, seed=1, progress=False, window="none", n_participants=12)
    out = tmp_path / "experiment"
    assert len(list((out / "data").glob("P*.csv"))) == 12 and len(list((out / "data").glob("P*.json"))) == 12
    assert "window-free" in (out / "demo_log.txt").read_text() or "no PsychoPy" in (out / "demo_log.txt").read_text()
    acc = pd.read_csv(out / "accuracy.csv")
    assert list(acc.columns[:2]) == ["group", "level"] and set(acc["group"]) == {"clickme", "saliency"}
    params = pd.read_csv(out / "psychometric_params.csv").set_index("group")
    assert params.loc["clickme", "threshold"] < params.loc["saliency", "threshold"]
    for name in ("level_tests.csv", "psychometric.csv", "ceiling.csv", "mixed_model.csv", "participants.csv"):
        assert (out / name).exists()


def test_demo_needs_stimuli(tmp_path):
    from clickme_analysis.errors import InputError
    from experiments.demo import run_demo

    with pytest.raises(InputError, match="stimuli stage"):
        run_demo(tmp_path, progress=False, window="none")


def test_partial_sessions_lists_aborted_and_short_sessions(config_file, tmp_path):
    import json

    from experiments.session import partial_sessions

    data = tmp_path / "data"
    for name in ("P1", "P2", "P3"):
        assert (
            main(
                [
                    "experiment",
                    "run",
                    "--config",
                    str(config_file),
                    "--participant",
                    name,
                    "--simulate",
                    "--no-window",
                    "--data",
                    str(data),
                ]
            )
            == 0
        )
    assert partial_sessions(data) == []
    n = json.loads((data / "P1.json").read_text())["n_trials"]
    lines = (data / "P2.csv").read_text().splitlines(keepends=True)
    (data / "P2.csv").write_text("".join(lines[:-2]))  # two trials short, record still "completed"
    record = json.loads((data / "P3.json").read_text())
    (data / "P3.json").write_text(json.dumps({**record, "status": "running"}))
    (data / "P4.csv").write_text(lines[0])  # no record: not judged
    found = partial_sessions(data)
    assert [(s["participant"], s["status"], s["trials_done"], s["n_trials"]) for s in found] == [
        ("P2", "completed", n - 2, n),
        ("P3", "running", n, n),
    ]
