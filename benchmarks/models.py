"""Training step time of GALA-ResNet-50 vs SE-ResNet-50 vs ResNet-50, in one run.

The three models step in turn (round-robin, so a load change on a shared machine hits all of
them alike); each round gives a paired ratio. Printed: median seconds per step, images/s, the
ratios to ResNet-50 and SE-ResNet-50 with a bootstrap 95% interval over rounds, and whether the
run separates the models (interval excluding 1) or, if not, that it cannot with this many
steps. Target: GALA <= 1.15x ResNet-50 step time. On a GPU also bf16 + channels_last images/s
at batch 256 (anchor: ResNet-50 AMP ~2,470 img/s on an A100); scripts/gpu_check.sh is the full
GPU check.

    python benchmarks/models.py                         # batch 32, 224x224, CPU or GPU
    python benchmarks/models.py --batch-size 8 --steps 6   # a quicker CPU look
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

# Run as a script, this file's folder comes first on sys.path and its own name ("models") would
# shadow the package: drop that folder before importing the package.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

import numpy as np  # noqa: E402
import torch  # noqa: E402

from models.gpu_check import prepare_device  # noqa: E402
from models.networks import build_network  # noqa: E402

ARCHS = ("resnet50", "se_resnet50", "gala_resnet50")


class Step:
    """One model's SGD training step on fixed random data."""

    def __init__(self, arch: str, batch_size: int, size: int, device, amp: bool, channels_last: bool):
        torch.manual_seed(0)
        fmt = torch.channels_last if channels_last else torch.contiguous_format
        self.model = build_network(arch).to(device).to(memory_format=fmt).train()
        self.optimizer = torch.optim.SGD(self.model.parameters(), lr=0.1, momentum=0.9, nesterov=True)
        self.images = torch.randn(batch_size, 3, size, size, device=device).contiguous(memory_format=fmt)
        self.labels = torch.randint(0, 1000, (batch_size,), device=device)
        self.device, self.amp = device, amp

    def __call__(self) -> float:
        sync = torch.cuda.synchronize if self.device.type == "cuda" else (lambda: None)
        sync()
        start = time.perf_counter()
        with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.amp):
            loss = torch.nn.functional.cross_entropy(self.model(self.images), self.labels)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        sync()
        return time.perf_counter() - start


def measure(batch_size: int, size: int, steps: int, device, amp=False, channels_last=False) -> dict:
    """Seconds per step of every model, ``steps`` rounds after one warm-up round."""
    models = {arch: Step(arch, batch_size, size, device, amp, channels_last) for arch in ARCHS}
    for step in models.values():
        step()
    times = {arch: [] for arch in ARCHS}
    for _ in range(steps):
        for arch, step in models.items():
            times[arch].append(step())
    return {arch: np.array(values) for arch, values in times.items()}


def ratio_interval(a: np.ndarray, b: np.ndarray, n_boot: int = 2000, seed: int = 0):
    """Median of the per-round ratios a / b and its bootstrap 95% interval."""
    ratios = a / b
    rng = np.random.default_rng(seed)
    boot = np.median(ratios[rng.integers(0, len(ratios), (n_boot, len(ratios)))], axis=1)
    return float(np.median(ratios)), float(np.quantile(boot, 0.025)), float(np.quantile(boot, 0.975))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--steps", type=int, default=None, help="timed rounds (CPU 8, GPU 50)")
    parser.add_argument("--amp-batch-size", type=int, default=256, help="batch of the GPU images/s measurement (256)")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = parser.parse_args(argv)
    device = torch.device(args.device)
    steps = args.steps or (50 if device.type == "cuda" else 8)
    where = prepare_device(device)
    print(
        f"device {device} ({where}), batch {args.batch_size}, {args.size}x{args.size}, fp32, {steps} round-robin rounds"
    )
    times = measure(args.batch_size, args.size, steps, device)
    for arch, values in times.items():
        value = float(np.median(values))
        print(f"  {arch:14s} {value:8.3f} s/step  {args.batch_size / value:8.1f} img/s")
    for reference in ("resnet50", "se_resnet50"):
        ratio, low, high = ratio_interval(times["gala_resnet50"], times[reference])
        verdict = (
            "separated"
            if low > 1 or high < 1
            else f"cannot separate the models with {steps} rounds: rerun with more --steps"
        )
        print(f"GALA / {reference} = {ratio:.3f} (95% interval {low:.3f}-{high:.3f}; {verdict})")
    _, low, high = ratio_interval(times["gala_resnet50"], times["resnet50"])
    verdict = "met" if high <= 1.15 else "NOT met" if low > 1.15 else "undecided (interval spans 1.15)"
    print(f"GALA / ResNet-50 target <= 1.15: {verdict}")
    if device.type == "cuda":
        print(f"bf16 AMP + channels_last, batch {args.amp_batch_size}:")
        amp = measure(args.amp_batch_size, args.size, steps, device, True, True)
        for arch, values in amp.items():
            print(
                f"  {arch:14s} {args.amp_batch_size / float(np.median(values)):8.1f} img/s "
                "(anchor: ResNet-50 ~2470 on an A100)"
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
