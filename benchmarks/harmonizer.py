"""Step time of harmonized training vs plain training of the same timm CNN and batch, in one run.

Plain: forward, cross-entropy (label smoothing 0.1), backward, SGD step. Harmonized: the same
with :func:`models.loss.harmonizer_loss` (the saliency's backward with ``create_graph=True``,
then the second-order backward). The two step in turn (round-robin: a load change on a shared
machine hits both alike); each round gives a paired ratio, reported as a median with a
bootstrap 95 % interval. Target: harmonized <= 2.5x plain (the double backward's floor is about
2x). Peak RSS after the plain steps and after the harmonized ones.

    python benchmarks/harmonizer.py                      # timm resnet18, batch 16, 64x64, CPU
    python benchmarks/harmonizer.py --model resnet50 --size 224 --batch-size 32   # on a GPU
"""

from __future__ import annotations

import argparse
import resource
import sys
import time
from pathlib import Path

sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

import numpy as np  # noqa: E402
import torch  # noqa: E402

from models.loss import harmonizer_loss  # noqa: E402


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


class Step:
    """One SGD step of a timm model on a fixed batch, plain or harmonized."""

    def __init__(self, name: str, batch_size: int, size: int, device, harmonized: bool, amp: bool):
        import timm

        torch.manual_seed(0)
        fmt = torch.channels_last if device.type == "cuda" else torch.contiguous_format
        self.model = timm.create_model(name, pretrained=False, num_classes=10).to(device)
        self.model = self.model.to(memory_format=fmt).train()
        self.optimizer = torch.optim.SGD(self.model.parameters(), lr=0.01, momentum=0.9)
        generator = torch.Generator().manual_seed(0)
        self.images = torch.randn(batch_size, 3, size, size, generator=generator).to(device)
        self.images = self.images.contiguous(memory_format=fmt)
        self.maps = torch.rand(batch_size, size, size, generator=generator).to(device)
        self.labels = torch.randint(0, 10, (batch_size,), generator=generator).to(device)
        self.has_map = torch.ones(batch_size, dtype=torch.bool, device=device)
        self.device, self.harmonized, self.amp = device, harmonized, amp

    def __call__(self) -> float:
        sync = torch.cuda.synchronize if self.device.type == "cuda" else (lambda: None)
        amp = torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.amp)
        sync()
        start = time.perf_counter()
        if self.harmonized:
            loss = harmonizer_loss(self.model, self.images, self.labels, self.maps, self.has_map, amp_context=amp)[
                "loss"
            ]
        else:
            with amp:
                logits = self.model(self.images)
            loss = torch.nn.functional.cross_entropy(logits.float(), self.labels, label_smoothing=0.1)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        sync()
        return time.perf_counter() - start


def ratio_interval(a: np.ndarray, b: np.ndarray, n_boot: int = 2000, seed: int = 0):
    """Median of the per-round ratios a / b and its bootstrap 95 % interval."""
    ratios = a / b
    rng = np.random.default_rng(seed)
    boot = np.median(ratios[rng.integers(0, len(ratios), (n_boot, len(ratios)))], axis=1)
    return float(np.median(ratios)), float(np.quantile(boot, 0.025)), float(np.quantile(boot, 0.975))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="resnet18", help="timm model name (resnet18)")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--steps", type=int, default=None, help="timed rounds (CPU 10, GPU 50)")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = parser.parse_args(argv)
    device = torch.device(args.device)
    steps = args.steps or (50 if device.type == "cuda" else 10)
    amp = device.type == "cuda"
    print(
        f"{args.model}, batch {args.batch_size}, {args.size}x{args.size}, device {device} "
        f"({torch.get_num_threads()} threads), {'bf16 + channels_last' if amp else 'fp32'}, "
        f"{steps} round-robin rounds"
    )
    plain = Step(args.model, args.batch_size, args.size, device, False, amp)
    plain()
    rss_plain = _peak_rss_mb()
    harmonized = Step(args.model, args.batch_size, args.size, device, True, amp)
    harmonized()
    times = {"plain": [], "harmonized": []}
    for _ in range(steps):
        times["plain"].append(plain())
        times["harmonized"].append(harmonized())
    rss_all = _peak_rss_mb()
    for name, values in times.items():
        value = float(np.median(values))
        print(f"  {name:10s} {value:8.4f} s/step  {args.batch_size / value:8.1f} img/s")
    ratio, low, high = ratio_interval(np.array(times["harmonized"]), np.array(times["plain"]))
    verdict = "met" if high <= 2.5 else "NOT met" if low > 2.5 else "undecided (interval spans 2.5)"
    print(f"harmonized / plain = {ratio:.2f} (95% interval {low:.2f}-{high:.2f}); target <= 2.5: {verdict}")
    print(f"peak RSS: {rss_plain:.0f} MB after plain steps, {rss_all:.0f} MB after harmonized ones")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
