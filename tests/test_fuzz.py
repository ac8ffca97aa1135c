"""Malformed files never give a traceback: every reader either reads them or raises InputError.

Hypothesis feeds each reader three kinds of bytes: random bytes, a valid file with a few bytes
inserted, deleted or replaced (or cut short), and for text formats a valid header followed by
random text of separators, quotes, brackets and numbers; TOML configs also get documents of the
class's own keys with values of random types, NPZ readers archives of random arrays under the
expected names, TFRecord readers correctly framed records of random payload. Anything but
:class:`~clickme_analysis.errors.InputError` fails the test.

Bounded for CI: ``CLICKME_FUZZ_EXAMPLES`` examples per reader (default 100; the whole file took 20 s on
two busy cores) from a fixed seed (``derandomize``), so a run is reproducible; set
``CLICKME_FUZZ_RANDOM=1`` for fresh random examples and a larger ``CLICKME_FUZZ_EXAMPLES`` to
search longer.
"""

from __future__ import annotations

import dataclasses
import functools
import io
import json
import math
import os
import struct
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from clickme_analysis.errors import InputError

EXAMPLES = int(os.environ.get("CLICKME_FUZZ_EXAMPLES", "100"))
#: Shrinking a failure to its smallest input can take minutes: only on request
#: (``CLICKME_FUZZ_SHRINK=1``); in CI a failure shows the input as it was generated.
PHASES = [Phase.explicit, Phase.generate] + ([Phase.shrink] if os.environ.get("CLICKME_FUZZ_SHRINK") else [])
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    database=None,
    phases=PHASES,
    derandomize=not os.environ.get("CLICKME_FUZZ_RANDOM"),
    suppress_health_check=list(HealthCheck),
)


# ----------------------------------------------------------------------------- valid seeds
def _npz(**arrays) -> bytes:
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return buffer.getvalue()


def _saved(write: Callable[[Path], object], suffix: str) -> bytes:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / f"seed{suffix}"
        write(path)
        return path.read_bytes()


CLICKS_CSV = b"image_id,participant_id,x,y,t\na,p1,10,20,0\na,p2,11.5,21,50\nb,p1,3,4,\n"
ROUNDS_CSV = b'image_path,clicks,user_id\ncat/a.png,"[(10,20),(11,22)]",u1\ndog/b.png,"{}",u2\n'
LISTS_CSV = b'image_id,participant_id,x,y\na,p1,"[1, 2]","[3, 4]"\n'
CLICKS_JSONL = (
    b'{"image_id": "a", "participant_id": "p", "x": [1, 2], "y": [3, 4], "t": [0, 50]}\n'
    b'{"image_id": "b", "participant_id": "q", "clicks": [[5, 6], [7, 8]]}\n'
)
LABELS_CSV = b"image_id,label,category\na,cat,animal\nb,car,non-animal\n"
GAME_LOG = (
    b'{"image_id": "cat", "participant_id": "u1", "round": 1, "label": "cat", "x": [1, 2], '
    b'"y": [3, 4], "t": [0, 50], "guesses": [{"t_sent": 0, "t": 16, "latency_ms": 16, '
    b'"top": ["cat"], "correct": true}], "success": true, "success_t": 16, "points": 0.5, '
    b'"skipped": false, "session_id": "s1"}\n'
)
EVENTS_TSV = (
    b"onset\tduration\tsample\ttrial_type\tresponse_time\tstim_file\tvalue\n"
    b"2.32\tn/a\tn/a\tstimulus\t322\t6085.jpg\tanimal_target\n"
    b"2.64\tn/a\tn/a\tresponse\tn/a\tn/a\tcorrect\n"
)
TRIALS_CSV = (
    b"participant,group,phase,block,trial,image_id,category,target,map_source,level,"
    b"response,responded_target,correct,rt,timed_out\n"
    b"P000,clickme,test,1,1,a,animal,1,clickme,1.0,s,1,1,0.48,0\n"
    b"P000,clickme,test,1,2,b,non-animal,0,intact,100.0,,,,,1\n"
)
MANIFEST_CSV = (
    b"image_id,category,target,map_source,level,pixels_revealed,seed,path,level_index,label,budget\n"
    b"a,animal,True,clickme,1.0,6,1,images/a_00.png,0,cat,600\n"
    b"a,animal,True,intact,100.0,1024,1,images/a.png,1,cat,600\n"
)
ASSIGNMENT_CSV = b"participant_list,image_id,level,map_source,level_index\n0,a,1.0,revealed,0\n1,a,100.0,intact,1\n"
METRICS_CSV = b"image_id,metric,value\na,cc,0.5\nb,nss,1.5\n"
SUMMARY_JSON = (
    b'{"human": {"mean": 0.5, "ci_low": 0.4, "ci_high": 0.6, "n": 3}, '
    b'"null": {"mean": 0.1, "ci_low": 0.0, "ci_high": 0.2, "n": 3}, "seed": 0}'
)
SESSION_JSON = b'{"participant": "P000", "runs": [{"mode": "simulate"}], "status": "completed"}'
#: Tables the report draws figures or tables from (inputs root -> a small valid file).
REPORT_CSVS = {
    "stimuli/manifest.csv": MANIFEST_CSV,
    "experiment/accuracy.csv": b"group,level,accuracy,sem,intact\nclickme,1,0.6,0.1,False\nclickme,100,0.9,0.05,True\n",
    "experiment/level_tests.csv": b"level,p,p_holm,significant,intact\n1,0.01,0.02,True,False\n",
    "experiment/psychometric_params.csv": b"group,threshold,threshold_ci_low,threshold_ci_high\nclickme,3.7,2.4,5.9\n",
    "clickme/participants_per_image.csv": b"image_id,n_participants\na,3\nb,5\n",
    "clickme/reliability_per_image.csv": b"image_id,rho,distribution\na,0.5,human\nb,0.1,null\n",
    "models/scores.csv": b"model,top1_err,top5_err,fraction_human\nResNet-50,0.24,0.07,0.43\n",
    "models/sweep.csv": b"lambda,top1_err,fraction_human,ceiling,null_floor\n0,0.3,0.2,0.5,0.1\n1,0.28,0.6,0.5,0.1\n",
    "models/curves.csv": b"run,epoch,split,accuracy,map_alignment\ngala,0,train,0.5,0.1\ngala,1,val,0.6,0.2\n",
    "game/game_statistics.csv": b"scope,unit,statistic,value\ngame,all,n_rounds,4\n",
    "game/learning_check.csv": b"n_participants,mean_first,mean_second,t,p\n2,0.5,0.75,1.0,0.5\n",
}


@functools.cache
def _map_archive() -> bytes:
    from clickme_analysis.archive import save_maps

    maps = {"a": np.eye(4, dtype=np.float32), "b": np.ones((4, 4), np.float32)}
    return _saved(lambda p: save_maps(p, maps, labels={"a": "cat", "b": "car"}), ".npz")


@functools.cache
def _clickme2_npz() -> bytes:
    ragged = np.empty(2, dtype=object)
    ragged[0], ragged[1] = np.array([1, 2]), np.array([3])
    return _npz(
        file_pointer=np.array(["cat/a.png", "dog/b.png"]),
        clickmap_x=ragged,
        clickmap_y=ragged.copy(),
        user_id=np.array([1, 2]),
        user_catch_trial=np.array([1.0, 0.5]),
    )


@functools.cache
def _parquet() -> bytes:
    buffer = io.BytesIO()
    pd.read_csv(io.BytesIO(CLICKS_CSV)).to_parquet(buffer)
    return buffer.getvalue()


@functools.cache
def _hdf5() -> bytes:
    from clickme_analysis.archive import write_clickme2_hdf5

    return _saved(lambda p: write_clickme2_hdf5(p, {"cat_a": np.eye(4)}, {"cat_a": 3}), ".h5")


@functools.cache
def _png_map() -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(np.arange(16, dtype=np.uint8).reshape(4, 4) * 16).save(buffer, format="PNG")
    return buffer.getvalue()


@functools.cache
def _tfrecord() -> bytes:
    from clickme_analysis.tfrecord import write_tfrecord

    example = {
        "image": np.zeros((4, 4, 3), np.float32).tobytes(),
        "heatmap": np.ones((4, 4, 1), np.float32).tobytes(),
        "label": 3,
        "click_count": 7,
    }
    return _saved(lambda p: write_tfrecord(p, [example, example]), ".tfrecords")


@functools.cache
def _attention_npz() -> bytes:
    return _npz(
        image_ids=np.array(["a", "b"]),
        images=np.zeros((2, 8, 8, 3)),
        **{
            "attention/gala": np.ones((2, 4, 4)),
            "smoothgrad/gala": np.ones((2, 8, 8)),
            "smoothgrad/base": np.zeros((2, 8, 8)),
        },
    )


# ----------------------------------------------------------------------------- strategies
def _edit(seed: bytes, edits) -> bytes:
    data = bytearray(seed)
    for position, op, chunk in edits:
        k = position % (len(data) + 1)
        if op == "insert":
            data[k:k] = chunk
        elif op == "delete":
            del data[k : k + len(chunk)]
        elif op == "replace":
            data[k : k + len(chunk)] = chunk
        else:  # cut the file short
            del data[k:]
    return bytes(data)


_EDITS = st.lists(
    st.tuples(
        st.integers(0, 1 << 16),
        st.sampled_from(["insert", "delete", "replace", "cut"]),
        st.binary(min_size=1, max_size=4),
    ),
    min_size=1,
    max_size=4,
)
_TEXT = st.lists(
    st.sampled_from(list("ab01.-e,;\t\n \"'[](){}:xyz\u00e9\x00") + ["nan", "inf", "NA", "1e400"]), max_size=80
).map("".join)


def mutated(seeds) -> st.SearchStrategy[bytes]:
    """A valid file with a few byte edits."""
    return st.builds(_edit, st.sampled_from(list(seeds)), _EDITS)


def after_header(seeds) -> st.SearchStrategy[bytes]:
    """The header (first line) of a valid file, then random text (encoded as UTF-8)."""
    headers = [s.split(b"\n", 1)[0] + b"\n" for s in seeds]
    return st.builds(lambda h, t: h + t.encode("utf-8", "surrogatepass"), st.sampled_from(headers), _TEXT)


_SCALARS = st.one_of(
    st.integers(-(2**63), 2**63 - 1),
    st.floats(allow_nan=True, allow_infinity=True),
    st.booleans(),
    st.text(max_size=8),
    st.sampled_from(["", "auto", "none", "gaussian", "box", "synthetic", "3", "-1", "1e400"]),
)
_VALUES = st.recursive(
    _SCALARS,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.sampled_from(["a", "b", "x"]), inner, max_size=2),
    max_leaves=5,
)


def _toml_value(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf") if math.isinf(value) else repr(value)
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    return "{" + ", ".join(f"{k} = {_toml_value(v)}" for k, v in value.items()) + "}"


def toml_documents(cls, sections=()) -> st.SearchStrategy[bytes]:
    """TOML of the class's own keys (and a stray one) with values of any type, maybe under a section."""
    names = [f.name for f in dataclasses.fields(cls)] + ["unknown_key"]
    entries = st.dictionaries(st.sampled_from(names), _VALUES, min_size=1, max_size=4)

    def render(values, section):
        head = f"[{section}]\n" if section else ""
        return (head + "".join(f"{k} = {_toml_value(v)}\n" for k, v in values.items())).encode()

    return st.builds(render, entries, st.sampled_from([None, *sections]))


_ARRAYS = st.one_of(
    st.builds(
        np.zeros, st.tuples(st.integers(0, 3), st.integers(0, 3)), st.sampled_from(["f4", "f8", "i8", "u1", "?"])
    ),
    st.builds(lambda v: np.array(v), st.lists(st.text(max_size=4), max_size=3)),
    st.builds(lambda v: np.array(v), st.floats() | st.integers(-5, 5) | st.text(max_size=4)),
    st.just(np.array([np.nan, np.inf])),
    st.just(np.zeros((2, 3, 4, 5))),
)


def npz_archives(names) -> st.SearchStrategy[bytes]:
    """NPZ files of random arrays under the names the reader expects (and a stray one)."""
    return st.builds(
        lambda arrays: _npz(**arrays),
        st.dictionaries(st.sampled_from([*names, "stray"]), _ARRAYS, max_size=len(names) + 1),
    )


def _framed(payloads) -> bytes:
    from clickme_analysis.tfrecord import masked_crc32c

    out = b""
    for payload in payloads:
        length = struct.pack("<Q", len(payload))
        out += length + struct.pack("<I", masked_crc32c(length)) + payload + struct.pack("<I", masked_crc32c(payload))
    return out


def tfrecords() -> st.SearchStrategy[bytes]:
    """Correctly framed (CRC-valid) records whose payloads are random or edited valid examples."""
    from clickme_analysis.tfrecord import read_tfrecord

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "seed.tfrecords"
        path.write_bytes(_tfrecord())
        example = next(iter(read_tfrecord(path)))
    payload = st.binary(max_size=64) | st.builds(_edit, st.just(example), _EDITS)
    return st.builds(_framed, st.lists(payload, min_size=1, max_size=3))


# ----------------------------------------------------------------------------- readers
def _consume(result) -> None:
    """Iterate lazy results (generators, archives) so their reading happens here."""
    from collections.abc import Iterator, Mapping

    if isinstance(result, Mapping):
        for key in list(result):
            result[key]
    elif isinstance(result, Iterator):
        for _ in result:
            pass
    close = getattr(result, "close", None)
    if callable(close):
        close()


def _clicks(path):
    from clickme_analysis.clicklog import read_clicks

    return read_clicks(path)


def _map_source(path):
    from clickme_analysis.archive import open_maps

    return open_maps(path)


def _report_part(relative: str):
    """The report's reader of one file: ``gather`` over a tree holding only that file."""

    def read(path: Path):
        from reports.report import gather

        root = path.parent / "root"
        (root / relative).parent.mkdir(parents=True, exist_ok=True)
        path.replace(root / relative)
        gathered = gather(root)
        return gathered

    return read


def _config(loader: str, cls: str | None = None):
    """``package.module:function`` called with the path (or ``load_config(cls, path)``)."""

    def read(path):
        import importlib

        module, name = loader.split(":")
        function = getattr(importlib.import_module(module), name)
        if cls is None:
            return function(path)
        owner, class_name = cls.split(":")
        return function(getattr(importlib.import_module(owner), class_name), path)

    return read


def _call(target: str, *args, **kwargs):
    def read(path):
        import importlib

        module, name = target.split(":")
        return getattr(importlib.import_module(module), name)(path, *args, **kwargs)

    return read


def _config_class(spec: str):
    import importlib

    module, name = spec.split(":")
    return getattr(importlib.import_module(module), name)


@dataclass(frozen=True)
class Reader:
    name: str
    suffix: str
    read: Callable
    seeds: Callable[[], list[bytes]]
    text: bool = True
    extra: Callable[[], st.SearchStrategy] | None = None
    share: float = 1.0  #: fraction of EXAMPLES (readers that draw a figure when the file is valid are slower)

    def payloads(self) -> st.SearchStrategy[bytes]:
        seeds = self.seeds()
        options = [st.binary(max_size=200), mutated(seeds)]
        if self.text:
            options.append(after_header(seeds))
        if self.extra is not None:
            options.append(self.extra())
        return st.one_of(options)


def _seeds(*values):
    return lambda: [v() if callable(v) else v for v in values]


def _toml_reader(name: str, loader, cls_spec: str, sections=(), seed: bytes = b"seed = 1\n"):
    return Reader(name, ".toml", loader, _seeds(seed), extra=lambda: toml_documents(_config_class(cls_spec), sections))


READERS = [
    Reader("read_clicks csv", ".csv", _clicks, _seeds(CLICKS_CSV, ROUNDS_CSV, LISTS_CSV)),
    Reader("read_clicks tsv", ".tsv", _clicks, _seeds(CLICKS_CSV.replace(b",", b"\t"))),
    Reader("read_clicks jsonl", ".jsonl", _clicks, _seeds(CLICKS_JSONL)),
    Reader("read_clicks parquet", ".parquet", _clicks, _seeds(_parquet), text=False),
    Reader(
        "read_clicks npz",
        ".npz",
        _clicks,
        _seeds(_clickme2_npz),
        text=False,
        extra=lambda: npz_archives(["file_pointer", "clickmap_x", "clickmap_y", "user_id", "user_catch_trial"]),
    ),
    Reader(
        "read_table",
        ".csv",
        _call("clickme_analysis.fileio:read_table", ("image_id", "label")),
        _seeds(LABELS_CSV, LABELS_CSV.replace(b",", b";")),
    ),
    Reader("read_toml", ".toml", _call("clickme_analysis.fileio:read_toml"), _seeds(b'a = 1\n[b]\nc = "x"\n')),
    Reader("fileio.read_jsonl", ".jsonl", _call("clickme_analysis.fileio:read_jsonl"), _seeds(CLICKS_JSONL)),
    Reader(
        "MapArchive",
        ".npz",
        _call("clickme_analysis.archive:MapArchive"),
        _seeds(_map_archive),
        text=False,
        extra=lambda: npz_archives(["format", "image_ids", "labels", "participant_counts", "maps/0"]),
    ),
    Reader("open_maps npz", ".npz", _map_source, _seeds(_map_archive), text=False),
    Reader("open_maps hdf5", ".h5", _map_source, _seeds(_hdf5), text=False),
    Reader("read_map_file png", ".png", _call("clickme_analysis.archive:read_map_file"), _seeds(_png_map), text=False),
    Reader(
        "read_tfrecord", ".tfrecords", _call("clickme_analysis.tfrecord:read_tfrecord"), _seeds(_tfrecord), text=False
    ),
    Reader(
        "read_clickme_tfrecord",
        ".tfrecords",
        _call("clickme_analysis.tfrecord:read_clickme_tfrecord", image_shape=(4, 4, 3), heatmap_shape=(4, 4, 1)),
        _seeds(_tfrecord),
        text=False,
        extra=tfrecords,
    ),
    Reader("read_game_log", ".jsonl", _call("clickme_analysis.game_stats:read_game_log"), _seeds(GAME_LOG)),
    Reader("read_events", ".tsv", _call("clickme_analysis.events:read_events"), _seeds(EVENTS_TSV)),
    Reader("load_trials", ".csv", _call("clickme_analysis.psychophysics.trials:load_trials"), _seeds(TRIALS_CSV)),
    Reader("labels.read_labels", ".csv", _call("clickme_analysis.labels:read_labels"), _seeds(LABELS_CSV)),
    Reader("stimuli.read_stimulus_labels", ".csv", _call("stimuli.build:read_stimulus_labels"), _seeds(LABELS_CSV)),
    Reader("design.load_manifest", ".csv", _call("experiments.design:load_manifest"), _seeds(MANIFEST_CSV)),
    Reader("design.load_assignment", ".csv", _call("experiments.design:load_assignment"), _seeds(ASSIGNMENT_CSV)),
    Reader("models.load_samples manifest", ".csv", _call("models.sources:load_samples"), _seeds(MANIFEST_CSV)),
    _toml_reader(
        "ExperimentConfig", _config("experiments.config:load_experiment_config"), "experiments.config:ExperimentConfig"
    ),
    _toml_reader(
        "GameConfig", _config("experiments.game.config:load_game_config"), "experiments.game.config:GameConfig"
    ),
    _toml_reader(
        "TrainConfig",
        _config("models.config:load_train_config"),
        "models.config:TrainConfig",
        sections=("model", "data", "optim", "train"),
    ),
    _toml_reader(
        "StimulusConfig",
        _config("stimuli.build:load_stimulus_config"),
        "stimuli.build:StimulusConfig",
        sections=("stimuli",),
    ),
    _toml_reader(
        "MapOptions",
        _config("clickme_analysis.config:load_config", "clickme_analysis.pipeline:MapOptions"),
        "clickme_analysis.pipeline:MapOptions",
    ),
    Reader("report metrics.csv", ".csv", _report_part("clickme/metrics.csv"), _seeds(METRICS_CSV)),
    *[
        Reader(f"report {relative}", ".csv", _report_part(relative), _seeds(seed), share=0.25)
        for relative, seed in REPORT_CSVS.items()
    ],
    Reader(
        "report reliability_summary.json",
        ".json",
        _report_part("clickme/reliability_summary.json"),
        _seeds(SUMMARY_JSON),
    ),
    Reader("report session record", ".json", _report_part("experiment/data/P000.json"), _seeds(SESSION_JSON)),
    Reader(
        "report attention.npz",
        ".npz",
        _report_part("models/attention.npz"),
        _seeds(_attention_npz),
        text=False,
        extra=lambda: npz_archives(["images", "image_ids", "human_maps", "gala", "smoothgrad/a"]),
    ),
]


@pytest.mark.parametrize("reader", READERS, ids=[r.name for r in READERS])
def test_reader_raises_only_input_error(reader: Reader):
    @settings(FUZZ, max_examples=max(5, round(EXAMPLES * reader.share)))
    @given(payload=reader.payloads())
    def check(payload: bytes) -> None:
        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / f"input{reader.suffix}"
            path.write_bytes(payload)
            try:
                _consume(reader.read(path))
            except InputError:
                pass

    check()


def test_parse_example_raises_only_input_error():
    from clickme_analysis.tfrecord import parse_example

    @FUZZ
    @given(payload=st.binary(max_size=80))
    def check(payload: bytes) -> None:
        try:
            parse_example(payload)
        except InputError:
            pass

    check()


def test_fuzzing_finds_a_reader_that_raises_something_else():
    """The harness itself: a reader that fails on a byte is caught (the check can fail)."""

    def fragile(path):
        if b"\x00" in Path(path).read_bytes():
            raise ValueError("a NUL byte")

    reader = Reader("fragile", ".csv", fragile, _seeds(CLICKS_CSV))
    with pytest.raises(ValueError, match="a NUL byte"):
        test_reader_raises_only_input_error(reader)
