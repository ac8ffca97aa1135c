"""Forward + backward step time of GALA-ResNet-50 vs SE-ResNet-50 vs ResNet-50, in one run.

Prints seconds per step and the ratios to SE-ResNet-50 and ResNet-50 (target: GALA <= 1.15x
SE-ResNet-50). On a GPU it also measures training images/s with bf16 AMP and channels_last
(anchor: about 2,470 img/s for ResNet-50 AMP on an A100; an H100 about 1.8x that).

    python benchmarks/models.py                 # batch 32, 224x224, CPU or GPU
    python benchmarks/models.py --batch-size 8 --steps 2   # a quicker CPU look
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

# Run as a script, this file's folder comes first on sys.path and its own name ("models") would
# shadow the package: drop that folder before importing the package.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

import torch  # noqa: E402

from models.resnet import build_model  # noqa: E402

ARCHS = ("resnet50", "se_resnet50", "gala_resnet50")


def step_time(arch: str, batch_size: int, size: int, steps: int, device: torch.device,
              amp: bool = False, channels_last: bool = False) -> float:
    """Median seconds of one SGD training step (forward, backward, update)."""
    torch.manual_seed(0)
    model = build_model(arch).to(device)
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    model = model.to(memory_format=fmt).train()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, nesterov=True)
    images = torch.randn(batch_size, 3, size, size, device=device).contiguous(memory_format=fmt)
    labels = torch.randint(0, 1000, (batch_size,), device=device)
    times = []
    for index in range(steps + 1):  # the first step warms up
        if device.type == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=amp):
            loss = torch.nn.functional.cross_entropy(model(images), labels)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        if device.type == "cuda":
            torch.cuda.synchronize()
        if index:
            times.append(time.perf_counter() - start)
    return sorted(times)[len(times) // 2]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--steps", type=int, default=None, help="timed steps (CPU 2, GPU 20)")
    parser.add_argument("--amp-batch-size", type=int, default=256,
                        help="batch of the GPU images/s measurement (256)")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = parser.parse_args(argv)
    device = torch.device(args.device)
    steps = args.steps or (20 if device.type == "cuda" else 2)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
    print(f"device {device} ({torch.cuda.get_device_name(device) if device.type == 'cuda' else f'{torch.get_num_threads()} threads'}), "
          f"batch {args.batch_size}, {args.size}x{args.size}, fp32, median of {steps} steps")
    seconds = {arch: step_time(arch, args.batch_size, args.size, steps, device) for arch in ARCHS}
    for arch, value in seconds.items():
        print(f"  {arch:14s} {value:8.3f} s/step  {args.batch_size / value:8.1f} img/s  "
              f"x{value / seconds['resnet50']:.3f} ResNet-50  x{value / seconds['se_resnet50']:.3f} SE-ResNet-50")
    ratio = seconds["gala_resnet50"] / seconds["se_resnet50"]
    print(f"GALA / SE-ResNet-50 = {ratio:.3f} (target <= 1.15: {'met' if ratio <= 1.15 else 'NOT met'})")
    if device.type == "cuda":
        print(f"bf16 AMP + channels_last, batch {args.amp_batch_size}:")
        for arch in ARCHS:
            value = step_time(arch, args.amp_batch_size, args.size, steps, device, True, True)
            print(f"  {arch:14s} {args.amp_batch_size / value:8.1f} img/s "
                  "(anchor: ResNet-50 ~2470 on an A100)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
