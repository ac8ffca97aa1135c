"""SmoothGrad images/s: the toolkit's batched SmoothGrad vs captum's NoiseTunnel, in one run.

Both explain a timm ResNet-50 (random weights, nothing downloaded) on the same 224x224 images
with 50 noisy samples of SD 0.15 x the input range, from the same seed, so they draw the same
noise. The reference is captum's ``NoiseTunnel(Saliency(model)).attribute`` with its defaults
(all 50 samples of an image in one batch), one call per image as the per-image noise SD needs;
the toolkit (:func:`models.explain.smoothgrad`) runs the noisy copies in batches of
``--batch-size`` across images, in channels-last memory with BatchNorm folded into the
convolutions, in float32 and under bf16 autocast. The paths alternate and each keeps its fastest
of ``--repeats`` timings (the machine may be shared).
Prints the rates, the ratios (target >= 2x), each run's largest map difference from captum's
relative to the map's range and the smallest Spearman correlation of an image's map with
captum's (float32: round-off only, amplified where it flips a ReLU; bf16: the lower precision),
whether one image's samples in one contiguous float32 batch reproduce captum's maps bit for
bit, and the peak RSS.

    python benchmarks/alignment.py                     # 2 images, CPU or GPU
    python benchmarks/alignment.py --images 8 --batch-size 32
"""

from __future__ import annotations

import argparse
import resource
import sys
import time
from pathlib import Path

# Run as a script, this file's folder comes first on sys.path and "models" would be shadowed.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

import torch  # noqa: E402


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def captum_reference(model, images, target, n_samples: int, noise: float, seed: int):
    """captum NoiseTunnel(Saliency) with its defaults, one call per image (per-image SD)."""
    from captum.attr import NoiseTunnel, Saliency

    tunnel = NoiseTunnel(Saliency(model))
    torch.manual_seed(seed)
    return torch.stack(
        [
            tunnel.attribute(
                image[None],
                nt_type="smoothgrad",
                nt_samples=n_samples,
                target=int(label),
                stdevs=noise * float(image.max() - image.min()),
            )[0]
            .abs()
            .amax(0)
            for image, label in zip(images, target)
        ]
    )


def _timed(function, device):
    if device.type == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    result = function()
    if device.type == "cuda":
        torch.cuda.synchronize()
    return result, time.perf_counter() - start


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=2)
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--samples", type=int, default=50)
    parser.add_argument("--batch-size", type=int, default=16, help="noisy copies per pass (16)")
    parser.add_argument("--repeats", type=int, default=2, help="timings per path, fastest kept (2)")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = parser.parse_args(argv)
    import timm
    from scipy.stats import spearmanr

    from models.explain import smoothgrad

    device = torch.device(args.device)
    torch.manual_seed(0)
    model = timm.create_model("resnet50", pretrained=False).to(device).eval()
    images = torch.randn(args.images, 3, args.size, args.size, device=device)
    with torch.no_grad():
        target = model(images).argmax(1)
    where = torch.cuda.get_device_name(device) if device.type == "cuda" else f"{torch.get_num_threads()} threads"
    print(
        f"device {device} ({where}), "
        f"timm resnet50, {args.images} images {args.size}x{args.size}, {args.samples} samples, "
        f"toolkit batch {args.batch_size}, channels-last"
    )
    # warm-up of every path on one small image (allocator, kernels)
    small = images[:1, :, :64, :64]
    captum_reference(model, small, target[:1], 2, 0.15, 0)
    for amp in ("none", "bf16"):
        smoothgrad(model, small, target[:1], n_samples=2, batch_size=2, channels_last=True, fuse=True, amp=amp)
    # the machine may be shared: the paths alternate, each timed --repeats times, the fastest kept
    runs = {"captum": [], "none": [], "bf16": []}
    maps = {}
    for _ in range(args.repeats):
        for name in runs:
            if name == "captum":
                result, seconds = _timed(lambda: captum_reference(model, images, target, args.samples, 0.15, 0), device)
            else:
                result, seconds = _timed(
                    lambda name=name: smoothgrad(
                        model,
                        images,
                        target,
                        noise_fraction=0.15,
                        n_samples=args.samples,
                        batch_size=args.batch_size,
                        seed=0,
                        amp=name,
                        channels_last=True,
                        fuse=True,
                    ),
                    device,
                )
            runs[name].append(seconds)
            maps[name] = result
    reference, t_ref = maps["captum"], min(runs["captum"])
    rss_all = _peak_rss_mb()
    exact = smoothgrad(
        model, images[:1], target[:1], noise_fraction=0.15, n_samples=args.samples, batch_size=args.samples, seed=0
    )
    span = float(reference.max() - reference.min())
    print(f"  captum NoiseTunnel (defaults, float32) {args.images / t_ref:8.3f} img/s  ({t_ref:.1f} s)")
    for amp in ("none", "bf16"):
        name, seconds = ("float32" if amp == "none" else "bf16 autocast"), min(runs[amp])
        difference = float((maps[amp] - reference).abs().max()) / span
        rho = min(
            spearmanr(a.flatten().cpu().numpy(), b.flatten().cpu().numpy())[0] for a, b in zip(maps[amp], reference)
        )
        print(
            f"  toolkit smoothgrad ({name:13s})      {args.images / seconds:8.3f} img/s  ({seconds:.1f} s)  "
            f"x{t_ref / seconds:.2f}  max |map difference| / map range {difference:.1e}, "
            f"1 - Spearman with captum's maps <= {1 - rho:.1e}"
        )
    ratio = t_ref / min(runs["none"])
    print(
        f"float32 toolkit / captum = {ratio:.2f}x (target >= 2: {'met' if ratio >= 2 else 'NOT met'}); "
        f"bf16: {t_ref / min(runs['bf16']):.2f}x; all times (s): "
        + ", ".join(f"{k} {[round(t, 1) for t in v]}" for k, v in runs.items())
    )
    print(
        "one image's samples per batch, float32, contiguous: maps "
        f"{'identical (bit for bit)' if torch.equal(exact[0], reference[0]) else 'differ'} to captum's"
    )
    print(f"peak RSS {rss_all:.0f} MB (captum's all-samples batch of 50 dominates)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
