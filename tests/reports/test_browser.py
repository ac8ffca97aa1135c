"""report.html opened in a real headless browser (Chromium): every embedded image loads."""

from __future__ import annotations

import html
import json
import re
import shutil
import subprocess

import pytest

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(
    CHROMIUM is None,
    reason="Chromium not found on PATH (install it with `make system-deps`, which runs "
    "scripts/install_system_deps.sh, or `apt-get install chromium`)",
)

#: Appended to a copy of the page: after the load event, writes each <img>'s load state.
PROBE = """<script>
window.addEventListener("load", () => {
  const result = [...document.images].map(img => ({
    alt: img.alt, loaded: img.complete && img.naturalWidth > 0, width: img.naturalWidth}));
  const pre = document.createElement("pre");
  pre.id = "image-probe";
  pre.textContent = JSON.stringify(result);
  document.body.appendChild(pre);
});
</script>"""


def images_in_browser(page, tmp_path) -> list[dict]:
    """Load ``page`` in headless Chromium and return one dict per <img>: alt, loaded, width."""
    probe = tmp_path / "probe.html"
    probe.write_text(page.read_text(encoding="utf-8").replace("</body>", PROBE + "</body>"), encoding="utf-8")
    command = [
        CHROMIUM,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        f"--user-data-dir={tmp_path / 'profile'}",
        "--virtual-time-budget=10000",
        "--dump-dom",
        probe.as_uri(),
    ]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120)
    found = re.search(r'<pre id="image-probe">(.*?)</pre>', done.stdout, re.S)
    assert found, f"probe did not run (exit {done.returncode}): {done.stderr[-2000:]}"
    return json.loads(html.unescape(found.group(1)))


def test_every_image_of_the_report_loads(built_report, tmp_path):
    _, page = built_report
    images = images_in_browser(page, tmp_path)
    assert len(images) == page.read_text().count("<img ") == 12  # every figure of the synthetic tree
    assert [i["alt"] for i in images if not i["loaded"]] == []
    assert all(i["width"] > 100 for i in images)


def test_probe_detects_a_broken_image(tmp_path):
    page = tmp_path / "page.html"
    page.write_text(
        "<!DOCTYPE html><html><body>"
        "<img alt='broken' src='data:image/png;base64,AAAA'>"
        "<img alt='missing' src='no_such_file.png'>"
        "<img alt='good' src='data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAAB"
        "CAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=='>"
        "</body></html>"
    )
    images = images_in_browser(page, tmp_path)
    assert [(i["alt"], i["loaded"]) for i in images] == [("broken", False), ("missing", False), ("good", True)]
