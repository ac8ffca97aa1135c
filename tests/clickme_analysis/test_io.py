import json

import numpy as np
import pandas as pd
import pytest

from clickme_analysis.clicklog import read_clicks
from clickme_analysis.errors import InputError


def write(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text)
    return path


def test_per_click_csv_with_optional_time(tmp_path):
    path = write(tmp_path, "log.csv", "image_id,participant_id,x,y,t\ncat,p1,1.5,2,0\ncat,p2,3,4,\n")
    clicks = read_clicks(path).clicks
    assert clicks[["image_id", "participant_id"]].values.tolist() == [["cat", "p1"], ["cat", "p2"]]
    assert clicks["x"].tolist() == [1.5, 3.0]
    assert clicks["t"].iloc[0] == 0 and np.isnan(clicks["t"].iloc[1])


def test_clickme2_csv_clicks_cell_and_aliases(tmp_path):
    path = write(
        tmp_path, "log.csv", 'image_path,clicks,user_id\nimg/a.png,"[[1, 2], [3, 4]]",u7\nimg/b.png,"[(5, 6, 10)]",u8\n'
    )
    clicks = read_clicks(path).clicks
    assert clicks.values[:, :4].tolist() == [
        ["a", "u7", 1.0, 2.0],
        ["a", "u7", 3.0, 4.0],
        ["b", "u8", 5.0, 6.0],
    ]  # ids: the stem rule
    assert clicks["t"].iloc[2] == 10


def test_jsonl_per_round_lists(tmp_path):
    lines = [
        {"image_id": "a", "participant_id": "p", "x": [1, 2], "y": [3, 4], "t": [0, 50]},
        {},
        {"image_id": "b", "participant_id": "q", "clicks": [[9, 9]]},
    ]
    text = "\n".join(json.dumps(r) for r in lines[:1]) + "\n\n" + json.dumps(lines[2]) + "\n"
    clicks = read_clicks(write(tmp_path, "log.jsonl", text)).clicks
    assert clicks[["x", "y", "t"]].values[:2].tolist() == [[1, 3, 0], [2, 4, 50]]
    assert clicks["image_id"].tolist() == ["a", "a", "b"]


def test_parquet_round_trip(tmp_path):
    frame = pd.DataFrame({"image_id": ["a", "a"], "participant_id": ["p", "q"], "x": [1.0, 2.0], "y": [3.0, 4.0]})
    frame.to_parquet(tmp_path / "log.parquet")
    clicks = read_clicks(tmp_path / "log.parquet").clicks
    pd.testing.assert_frame_equal(clicks[["image_id", "participant_id", "x", "y"]], frame)


def test_clickme2_npz_excludes_catch_trials_and_lists_them(tmp_path):
    xs = np.empty(2, dtype=object)
    xs[:] = [[1, 2], [5]]
    ys = np.empty(2, dtype=object)
    ys[:] = [[3, 4], [6]]
    np.savez(
        tmp_path / "log.npz",
        file_pointer=np.array(["a", "b"]),
        clickmap_x=xs,
        clickmap_y=ys,
        user_id=np.array(["u1", "u2"]),
        user_catch_trial=np.array([0.97, 0.5]),
    )  # accuracies
    log = read_clicks(tmp_path / "log.npz")
    assert log.clicks[["x", "y"]].values.tolist() == [[1, 3], [2, 4]]
    assert log.skipped[["line", "field"]].values.tolist() == [[2, "user_catch_trial"]]


@pytest.mark.parametrize(
    "row, line, field, expected",
    [
        ("cat,p1,abc,2", 3, "x", "expected a finite number, got 'abc'"),
        ("cat,p1,1,", 3, "y", "expected a finite number"),
        (",p1,1,2", 3, "image_id", "non-empty image_id"),
        ("cat,p1,inf,2", 3, "x", "finite number"),
    ],
)
def test_bad_row_names_file_line_field(tmp_path, row, line, field, expected):
    path = write(tmp_path, "bad.csv", f"image_id,participant_id,x,y\ncat,p1,1,2\n{row}\n")
    with pytest.raises(InputError) as err:
        read_clicks(path)
    assert (err.value.path, err.value.line, err.value.field) == (str(path), line, field)
    assert expected in str(err.value) and str(path) in str(err.value)


def test_skip_mode_counts_every_bad_row(tmp_path):
    path = write(tmp_path, "bad.csv", "image_id,participant_id,x,y\ncat,p1,1,2\ncat,p1,x,2\ncat,,1,2\n\ncat,p2,3,4\n")
    log = read_clicks(path, on_error="skip")
    assert log.clicks["x"].tolist() == [1.0, 3.0]
    # the blank line 5 is no data: ignored, and the next row keeps its line number
    assert log.skipped[["line", "field"]].values.tolist() == [[3, "x"], [4, "participant_id"]]


def test_bad_points_in_clicks_cell(tmp_path):
    path = write(tmp_path, "bad.csv", 'image_path,clicks,user_id\na,"[[1, 2], [3]]",u\nb,"[[1, 2",u\n')
    with pytest.raises(InputError, match=r"line 2, field 'clicks': point 2: expected two or three finite"):
        read_clicks(path)
    log = read_clicks(path, on_error="skip")
    assert log.clicks.empty and log.skipped["line"].tolist() == [2, 3]


def test_bad_json_line_and_unequal_lists(tmp_path):
    text = '{"image_id": "a", "participant_id": "p", "x": [1], "y": [2, 3]}\nnot json\n'
    path = write(tmp_path, "log.jsonl", text)
    with pytest.raises(InputError, match="line 1, field 'x, y': expected lists of equal length"):
        read_clicks(path)
    assert read_clicks(path, on_error="skip").skipped["line"].tolist() == [1, 2]


def test_missing_columns_unknown_format_missing_file(tmp_path):
    with pytest.raises(InputError, match=r"missing columns \['x', 'y'\]"):
        read_clicks(write(tmp_path, "log.csv", "image_id,participant_id\na,p\n"))
    with pytest.raises(InputError, match="cannot tell the format"):
        read_clicks(write(tmp_path, "log.txt", "x"))
    with pytest.raises(InputError, match="not found"):
        read_clicks(tmp_path / "absent.csv")
    with pytest.raises(InputError, match="expected on_error"):
        read_clicks(write(tmp_path, "ok.csv", "image_id,participant_id,x,y\na,p,1,2\n"), on_error="ignore")


def test_read_table_locates_every_failure(tmp_path):
    from clickme_analysis.fileio import read_table

    path = write(tmp_path, "t.csv", "a,b\n1,2\n")
    assert read_table(path, ["a"])["b"].tolist() == [2]
    with pytest.raises(InputError, match="manifest lacks columns \\['c'\\]") as err:
        read_table(path, ["a", "c"], "manifest")
    assert (err.value.path, err.value.field) == (str(path), "c")
    with pytest.raises(InputError, match="manifest not found"):
        read_table(tmp_path / "absent.csv", what="manifest")
    with pytest.raises(InputError, match="not a readable"):
        read_table(write(tmp_path, "empty.csv", ""), what="manifest")
