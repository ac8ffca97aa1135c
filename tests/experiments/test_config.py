import pytest

from clickme_analysis.errors import InputError
from experiments.config import ExperimentConfig, load_experiment_config


def test_defaults_are_the_paper_paradigm():
    cfg = load_experiment_config()
    assert (cfg.n_training, cfg.n_blocks, cfg.trials_per_block) == (6, 5, 16)
    assert (cfg.fixation_min, cfg.fixation_max, cfg.stimulus_duration, cfg.response_window) == (1.1, 1.6, 0.4, 0.55)
    assert (cfg.target_key, cfg.distractor_key) == ("s", "l")


def test_toml_overrides_and_resolves_paths(tmp_path):
    (tmp_path / "sub").mkdir()
    path = tmp_path / "sub" / "e.toml"
    path.write_text('manifest = "../m.csv"\nn_blocks = 3\ngroups = ["a", "b", "c"]\n')
    cfg = load_experiment_config(path, seed=7)
    assert cfg.manifest == str((tmp_path / "m.csv").resolve())
    assert cfg.n_blocks == 3 and cfg.groups == ("a", "b", "c") and cfg.seed == 7
    assert cfg.to_dict()["groups"] == ["a", "b", "c"]


@pytest.mark.parametrize(
    "text, field",
    [
        ("n_blockz = 3", "n_blockz"),
        ("trials_per_block = 5", "trials_per_block"),
        ('distractor_key = "s"', "distractor_key"),
        ("fixation_min = 2.0", "fixation_max"),
        ("response_window = 0.3", "response_window"),
        ('keyboard_backend = "pygame"', "keyboard_backend"),
        ("[design]\nn_blocks = 2", "design"),
        ("seed = 1.5", "seed"),
        ("screen_size = 512", "screen_size"),
        ("screen_size = [512]", "screen_size"),
        ('fullscreen = "no"', "fullscreen"),
        ("stimulus_duration = -0.4", "stimulus_duration"),
        ("background = 2.0", "background"),
    ],
)
def test_bad_settings_name_the_field(tmp_path, text, field):
    path = tmp_path / "e.toml"
    path.write_text(text)
    with pytest.raises(InputError) as err:
        load_experiment_config(path)
    assert err.value.field == field and err.value.path == str(path)


def test_bad_toml_and_missing_file(tmp_path):
    path = tmp_path / "e.toml"
    path.write_text("n_blocks = = 2")
    with pytest.raises(InputError, match="not valid TOML"):
        load_experiment_config(path)
    with pytest.raises(InputError, match="not found"):
        load_experiment_config(tmp_path / "none.toml")


def test_dataclass_validates_directly():
    with pytest.raises(InputError):
        ExperimentConfig(groups=("a", "a"))


def test_shipped_lab_config_lists_every_default():
    import dataclasses
    from pathlib import Path

    import experiments

    path = Path(experiments.__file__).parent / "lab_config.toml"
    text = path.read_text()
    cfg, default = load_experiment_config(path), ExperimentConfig()
    for field in dataclasses.fields(ExperimentConfig):
        assert f"\n{field.name} = " in text
        if field.name not in ("manifest", "assignment"):
            assert getattr(cfg, field.name) == getattr(default, field.name), field.name


@pytest.mark.parametrize(
    "text, message",
    [
        ("seed = 1.5", "field 'seed': expected int, got 1.5"),
        ("screen_size = 512", "field 'screen_size': expected a list of int, got 512"),
        ('fullscreen = "no"', "field 'fullscreen': expected bool, got 'no'"),
        ("stimulus_duration = -0.4", "field 'stimulus_duration': expected a value > 0, got -0.4"),
        (
            "stimulus_duration = 0.6",
            "field 'response_window': expected a duration >= stimulus_duration (0.6), got 0.55",
        ),
    ],
)
def test_bad_settings_say_what_was_expected(tmp_path, text, message):
    path = tmp_path / "e.toml"
    path.write_text(text)
    with pytest.raises(InputError) as err:
        load_experiment_config(path)
    assert str(err.value) == f"{path}, {message}"


def test_default_background_is_the_papers_white_with_dark_text():
    from experiments.config import GRAY, WHITE, contrast_ratio, text_color

    assert ExperimentConfig().background == WHITE == 1.0
    assert text_color(WHITE) == text_color(GRAY) == -1.0 and text_color(-1.0) == 1.0
    # black on mid-grey beats white on mid-grey (WCAG: 5.3 vs 4.0)
    assert contrast_ratio(-1.0, GRAY) == pytest.approx(5.28, abs=0.01)
    assert contrast_ratio(1.0, GRAY) == pytest.approx(3.98, abs=0.01)
