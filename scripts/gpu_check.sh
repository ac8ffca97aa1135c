#!/usr/bin/env bash
# One-GPU check of the training stack (issue 12): images/s of ResNet-50, SE-ResNet-50 and
# GALA-ResNet-50 (paper and authors' variants) at batch 256, bf16 autocast, channels_last, with
# and without torch.compile, on synthetic tensors and fed by the shard pipeline; the GALA /
# ResNet-50 step-time ratio; harmonized ResNet-50 and ViT-B/16 images/s (timm, harmonizer loss);
# the fraction of step time waiting for data; a 300-step
# ClickMe-supervised run whose loss must fall (exit 1 otherwise). Stops itself after 7m50s.
#
#   scripts/gpu_check.sh [--json figures.json]      # on the GPU machine, its own torch
#   scripts/gpu_check.sh --reduced                  # tiny sizes on a CPU (what the tests run)
#
# Runs from the source tree with whatever torch/torchvision the machine has: no install.
# PYTHON selects the interpreter (default python3).
set -euo pipefail
cd "$(dirname "$0")/.."
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
exec timeout 470 "${PYTHON:-python3}" -m models.gpu_check "$@"
