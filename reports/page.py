"""Writing the report: figures and tables under ``OUT/`` and the one self-contained ``report.html``."""

from __future__ import annotations

import base64
import html
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import pandas as pd

from reports import tables
from reports.parts import Gathered, Item
from reports.style import save_figure

_CSS = """
body { font-family: "DejaVu Sans", Arial, sans-serif; max-width: 980px; margin: 2em auto;
       padding: 0 1em; color: #222; line-height: 1.45; }
h1 { font-size: 1.6em; } h2 { border-bottom: 1px solid #ccc; padding-bottom: .2em; }
figure { margin: 1.5em 0; } figure img { max-width: 100%; height: auto; display: block; }
figcaption { font-size: .9em; color: #444; margin-top: .4em; }
.table-scroll { overflow: auto; max-height: 32em; margin: .5em 0; border: 1px solid #eee; }
table { border-collapse: collapse; font-size: .9em; }
thead th { position: sticky; top: 0; background: #fff; }
th, td { padding: .25em .7em; border-bottom: 1px solid #ddd; text-align: right; }
th:first-child, td:first-child { text-align: left; }
.missing { color: #8a4b00; } .files { font-size: .85em; color: #666; }
.simulated { background: #fff4d6; border-left: 4px solid #e69f00; padding: .5em .8em; }
"""


#: Figures are saved at 200 dpi; shown at this fraction of their pixel width (about 150 px
#: per inch, so 8 pt text reads at about 16 px).
_DISPLAY_SCALE = 0.75


def _display_width(png: bytes) -> int:
    """CSS width of a PNG in the page: its pixel width (IHDR) times the display scale."""
    return round(int.from_bytes(png[16:20], "big") * _DISPLAY_SCALE)


def _data_uri(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def _version() -> str:
    try:
        return version("clickme-toolkit")
    except PackageNotFoundError:
        return "(not installed)"


def _table_html(item: Item, number: int, out: Path) -> str:
    esc = html.escape
    paths = tables.write_table(item.content, out / "tables" / item.name, item.caption)
    files = ", ".join(f"<code>tables/{esc(p.name)}</code>" for p in paths)
    return (
        f"<h3 id='{esc(item.name)}'>Table {number}. {esc(item.title)}</h3>"
        f"<p>{esc(item.caption)}</p>"
        + "<div class='table-scroll'>"
        + tables.formatted(item.content).to_html(index=False, border=0)
        + f"</div><p class='files'>{files}</p>"
    )


def _figure_html(item: Item, number: int, out: Path) -> str:
    esc = html.escape
    if isinstance(item.content, bytes):  # a PNG written by another stage, embedded as it is
        png = item.content
        (out / "figures" / f"{item.name}.png").write_bytes(png)
        files = [f"{item.name}.png"]
    else:
        paths = save_figure(item.content, out / "figures" / item.name)
        png = paths[1].read_bytes()
        files = [p.name for p in paths]
    return (
        f"<figure id='{esc(item.name)}'><img src='{_data_uri(png)}' "
        f"style='width: {_display_width(png)}px' alt='{esc(item.title)}'>"
        f"<figcaption><b>Figure {number}. {esc(item.title)}.</b> {esc(item.caption)} "
        f"<span class='files'>({esc(', '.join('figures/' + f for f in files))})</span>"
        "</figcaption></figure>"
    )


def write_report(gathered: Gathered, out) -> Path:
    """Save figures and tables under ``out`` and write the self-contained ``report.html``.

    Returns
    -------
    pathlib.Path
        ``out/report.html``.
    """
    esc = html.escape
    out = Path(out)
    (out / "figures").mkdir(parents=True, exist_ok=True)
    contents, body, counts = [], [], {"figure": 0, "table": 0}
    for section, items in gathered.sections.items():
        body.append(f"<section><h2>{esc(section)}</h2>")
        for item in items:
            kind = "table" if isinstance(item.content, pd.DataFrame) else "figure"
            counts[kind] += 1
            render = _table_html if kind == "table" else _figure_html
            body.append(render(item, counts[kind], out))
            contents.append(
                f"<li><a href='#{esc(item.name)}'>{kind.title()} {counts[kind]}. {esc(item.title)}</a></li>"
            )
        body.append("</section>")
    head = [
        "<h1>ClickMe toolkit report</h1>",
        f"<p class='files'>Inputs: <code>{esc(str(gathered.inputs.resolve()))}</code>; "
        f"clickme-toolkit {esc(_version())}</p>",
    ]
    simulated = [p for p in gathered.provenance.values() if p.simulated]
    if simulated:
        head.append(
            "<p class='simulated' id='simulated'><b>Simulated data.</b> "
            + "; ".join(esc(f"{p.stage}: {p.detail.split('; ')[0]}") for p in simulated)
            + ". These results show what the toolkit computes, not findings about people.</p>"
        )
    head.append(f"<nav><ul>{''.join(contents)}</ul></nav>")
    if gathered.missing or gathered.problems:
        head.append(
            "<section id='missing'><h2>Missing parts</h2><ul class='missing'>"
            + "".join(f"<li>{esc(m)}</li>" for m in gathered.missing)
            + "".join(f"<li>unusable: {esc(p)}</li>" for p in gathered.problems)
            + "</ul></section>"
        )
    page = (
        "<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'>"
        "<title>ClickMe toolkit report</title>"
        f"<style>{_CSS}</style></head><body>\n" + "\n".join(head + body) + "\n</body></html>\n"
    )
    path = out / "report.html"
    path.write_text(page, encoding="utf-8")
    return path
