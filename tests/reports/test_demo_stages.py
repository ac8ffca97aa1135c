"""`clickme demo` runs each stage in a fresh process and stops at the first that fails."""

from __future__ import annotations

import pytest

from clickme_app import demo


def test_a_failing_stage_stops_the_demo(monkeypatch, tmp_path, capfd):
    monkeypatch.setattr(demo, "STAGES", (("broken", "no_such_package.demo"),))
    with pytest.raises(RuntimeError, match=r"demo stage 'broken' \(no_such_package.demo\) failed with exit code 1"):
        demo.run(tmp_path, progress=False)
    assert "No module named 'no_such_package'" in capfd.readouterr().err
