"""Atomic writes, durable append logs, JSON lines and file collection."""

from __future__ import annotations

import os

import pytest

from clickme_analysis.errors import InputError
from clickme_analysis.fileio import (
    AppendLog,
    atomic_write,
    atomic_write_bytes,
    atomic_write_text,
    check_output_path,
    collect_files,
    read_jsonl,
    write_jsonl,
)


def test_atomic_write_keeps_the_old_file_on_error(tmp_path):
    path = atomic_write_text(tmp_path / "a.txt", "old")
    with pytest.raises(RuntimeError), atomic_write(path, "w") as f:
        f.write("new, half written")
        raise RuntimeError("crash")
    assert path.read_text() == "old"
    assert os.listdir(tmp_path) == ["a.txt"]  # no temporary file left behind


def test_atomic_write_bytes_round_trip_with_the_usual_mode(tmp_path):
    path = atomic_write_bytes(tmp_path / "b.bin", b"\x00\x01")
    assert path.read_bytes() == b"\x00\x01"
    plain = tmp_path / "plain.bin"
    plain.write_bytes(b"")
    assert path.stat().st_mode & 0o777 == plain.stat().st_mode & 0o777


def test_missing_folder_and_folder_target_are_input_errors(tmp_path):
    with pytest.raises(InputError, match="existing folder"):
        atomic_write_text(tmp_path / "no" / "x.txt", "x")
    with pytest.raises(InputError, match="got a folder"):
        check_output_path(tmp_path)


def test_append_log_cuts_a_partial_line_and_writes_the_header_once(tmp_path):
    path = tmp_path / "log.csv"
    with AppendLog(path, header="a,b") as log:
        assert log.n_existing == 0
        log.append("1,2")
    path.write_bytes(path.read_bytes() + b"3,")  # a crash mid-line
    with AppendLog(path, header="a,b") as log:
        assert log.n_existing == 2
        log.append("3,4")
    assert path.read_text() == "a,b\n1,2\n3,4\n"
    with AppendLog(path) as log, pytest.raises(ValueError):
        log.append("x\ny")


def test_read_jsonl_locates_errors(tmp_path):
    path = tmp_path / "r.jsonl"
    write_jsonl(path, [{"a": 1}, {"a": 2}])
    assert [v for _, v in read_jsonl(path)] == [{"a": 1}, {"a": 2}]
    path.write_bytes(b'{"a": 1}\n[1, 2]\n')
    with pytest.raises(InputError, match=r"line 2: expected a JSON object, got list"):
        list(read_jsonl(path))
    path.write_bytes(b'{"a": 1}\n\xff\xfe\n')
    with pytest.raises(InputError, match="line 2: expected UTF-8"):
        list(read_jsonl(path))
    path.write_bytes(b'{"a": 1}\n{"a": ')
    with pytest.raises(InputError, match="line 2"):
        list(read_jsonl(path))
    assert list(read_jsonl(path, partial_last_ok=True)) == [(1, {"a": 1})]
    with pytest.raises(InputError, match="no such file"):
        list(read_jsonl(tmp_path / "missing.jsonl"))


def test_collect_files(tmp_path):
    for name in ("s-1.tfrecords", "s-0.tfrecords", "notes.txt"):
        (tmp_path / name).write_bytes(b"")
    assert [p.name for p in collect_files(tmp_path, (".tfrecords",))] == ["s-0.tfrecords", "s-1.tfrecords"]
    assert [p.name for p in collect_files(str(tmp_path / "s-*.tfrecords"), (".tfrecords",))] == [
        "s-0.tfrecords",
        "s-1.tfrecords",
    ]
    assert collect_files(tmp_path / "notes.txt", (".png",)) == [tmp_path / "notes.txt"]
    with pytest.raises(InputError, match="found none"):
        collect_files(tmp_path, (".png",))
    with pytest.raises(InputError, match="no such path"):
        collect_files(tmp_path / "absent", (".png",))
