#!/usr/bin/env bash
# Wheel smoke test (CI step, `make wheel-smoke`): builds the sdist and, from it, the wheel; installs
# the wheel with the extras its commands need into a fresh virtual environment outside the
# checkout; then, from an empty folder and with nothing of the checkout on the path, runs
# `clickme --version`, `maps` and `reliability` on a generated click log, `stimuli build`,
# `configs show` + `serve --check` with the bundled experiment configuration, `report` and a tiny
# `train` on the CPU. Prints the time of every step; exits non-zero on the first failure.
#
# PY: the interpreter that builds (default .venv/bin/python; it needs `build` and setuptools).
# SMOKE_EXTRAS: the extras installed (default models,online; `experiment` adds PsychoPy, ~1.6 GB).
# SMOKE_VENV=DIR reuses a virtual environment a previous run left (SMOKE_KEEP=1): only the wheel is
# reinstalled, without its dependencies (for working on this script; CI always starts fresh).
# SMOKE_KEEP=1 keeps the scratch folder.
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
PY="${PY:-$repo/.venv/bin/python}"
extras="${SMOKE_EXTRAS:-models,online}"
work="$(mktemp -d "${TMPDIR:-/tmp}/clickme-wheel-smoke.XXXXXX")"
[ "${SMOKE_KEEP:-0}" = 1 ] || trap 'rm -rf "$work"' EXIT
start=$SECONDS
step() { echo "[wheel-smoke +$((SECONDS - start))s] $*"; }
fail() { echo "wheel-smoke: FAILED: $*" >&2; exit 1; }

step "jsPsych for the wheel (scripts/install_web_deps.sh)"
bash "$repo/scripts/install_web_deps.sh"

step "python -m build (sdist, then the wheel from the sdist)"
"$PY" -m build --no-isolation --outdir "$work/dist" "$repo" >"$work/build.log" 2>&1 \
    || { tail -30 "$work/build.log"; fail "python -m build"; }
wheel="$(ls "$work"/dist/*.whl)"
"$PY" - "$wheel" <<'EOF' || fail "the wheel lacks package data"
import sys, zipfile
names = set(zipfile.ZipFile(sys.argv[1]).namelist())
needed = ["experiments/lab_config.toml", "models/configs/clickme/gala_clickme.toml",
          "experiments/online/web/experiment.html", "experiments/online/web/licenses/jspsych-LICENSE.txt",
          "experiments/online/web/node_modules/jspsych/dist/index.browser.min.js",
          "experiments/online/web/node_modules/jspsych/css/jspsych.css"]
missing = [n for n in needed if n not in names]
if missing:
    sys.exit(f"missing from {sys.argv[1]}: {missing} (jsPsych: run scripts/install_web_deps.sh before building)")
print(f"wheel: {len(names)} files ({sys.argv[1].rsplit('/', 1)[-1]})")
EOF

venv="${SMOKE_VENV:-$work/venv}"
if [ -n "${SMOKE_VENV:-}" ] && [ -x "$venv/bin/python" ]; then
    step "reusing $venv: pip install --no-deps --force-reinstall the wheel"
    "$venv/bin/python" -m pip install -q --no-deps --force-reinstall "$wheel" >"$work/pip.log" 2>&1 \
        || { tail -30 "$work/pip.log"; fail "pip install"; }
else
    step "fresh virtual environment outside the checkout, pip install the wheel[$extras]"
    "$PY" -m venv "$venv"
    "$venv/bin/python" -m pip install -q --find-links "$work/dist" "$wheel[$extras]" >"$work/pip.log" 2>&1 \
        || { tail -30 "$work/pip.log"; fail "pip install"; }
fi

mkdir "$work/empty" && cd "$work/empty"
unset PYTHONPATH
export PATH="$venv/bin:$PATH" MPLBACKEND=Agg
run() { step "$*"; "$@" >"$work/last.log" 2>&1 || { cat "$work/last.log"; fail "$*"; }; }

step "imports come from the fresh environment"
python - "$venv" <<'EOF' || fail "a package was imported from outside the fresh environment"
import sys, warnings
warnings.simplefilter("error")  # a package conflict warning fails the smoke test
import clickme_analysis, experiments, models, reports, stimuli
for module in (clickme_analysis, experiments, models, reports, stimuli):
    if not module.__file__.startswith(sys.argv[1]):
        sys.exit(f"{module.__name__} imported from {module.__file__}")
EOF

run clickme --version
grep -q "^clickme " "$work/last.log" || fail "clickme --version printed: $(cat "$work/last.log")"

step "a generated click log (simulated players on the embedded photographs)"
python - <<'EOF' || fail "generating the click log"
from pathlib import Path

from PIL import Image

from clickme_analysis.archive import save_maps
from clickme_analysis.synthetic import demo_images, saliency_standin, simulate_clicks

out = Path("clickme")
(out / "images").mkdir(parents=True)
images, labels, parts = demo_images(per_category=2)
for image_id, image in images.items():
    Image.fromarray(image).save(out / "images" / f"{image_id}.png")
labels.to_csv(out / "labels.csv", index=False)
simulate_clicks(parts, seed=0).to_csv(out / "clicks.csv", index=False)
save_maps(out / "saliency_maps.npz", {i: saliency_standin(images[i]) for i in sorted(images)},
          labels=dict(zip(labels["image_id"], labels["label"])))
EOF
run clickme maps clickme/clicks.csv --labels clickme/labels.csv --out clickme/maps.npz \
    --stats clickme/participants_per_image.csv
run clickme reliability clickme/clicks.csv --n-images 0 --split-half 5 --out clickme
run clickme stimuli build --images clickme/images --maps clickme/maps.npz --maps-b clickme/saliency_maps.npz \
    --labels clickme/labels.csv --levels 3 --size 64 --out stimuli --seed 0
test -s stimuli/manifest.csv || fail "stimuli build wrote no manifest"

run clickme configs list
grep -q "^experiment/lab_config" "$work/last.log" || fail "configs list lacks experiment/lab_config"
step "clickme configs show experiment/lab_config > experiment/lab_config.toml (pointed at ../stimuli)"
mkdir experiment
clickme configs show experiment/lab_config | sed -e 's#"../stimuli_out/#"../stimuli/#' \
    -e 's#^n_blocks = 5 #n_blocks = 1 #' -e 's#^trials_per_block = 16 #trials_per_block = 4 #' \
    >experiment/lab_config.toml
run clickme serve --experiment experiment/lab_config.toml --db sqlite:///online.db --completion-code SMOKE --check
grep -q "participant URL (experiment)" "$work/last.log" || fail "serve --check printed no experiment URL"

run clickme report --inputs . --out report
test -s report/report.html || fail "clickme report wrote no report.html"

step "a tiny clickme train on the CPU"
cat >tiny.toml <<'EOF'
[model]
arch = "tiny_gala_resnet"
num_classes = 3
tiny_width = 4
[data]
train = "synthetic"
val = "synthetic"
synthetic_train = 16
synthetic_val = 8
image_size = 30
resize = 30
blur_size = 3
batch_size = 8
workers = 0
[loss]
lambda = 6
[optim]
epochs = 1
milestones = []
[run]
device = "cpu"
progress = false
EOF
run clickme train --config tiny.toml --out runs/tiny
test -s runs/tiny/best.pt || fail "clickme train wrote no best.pt"

step "passed"
