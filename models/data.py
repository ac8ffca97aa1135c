"""Paired image + human-map datasets for ClickMe training and scoring.

Three sources, chosen by :func:`load_samples` from the path: a folder of images (class labels
from sub-folder names), a CSV manifest, or ClickMe TFRecords (the published layout). Human maps
come from the records themselves (TFRecords) or from a map archive keyed by image id. Training
crops and flips the image and its map identically; maps are blurred before that.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from clickme_analysis.errors import InputError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")
TFRECORD_SUFFIXES = (".tfrecord", ".tfrecords", ".gz")
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


@dataclass
class Sample:
    """One image: a file path or an (H, W, 3) uint8 array, a label (-1 unknown), an optional map."""

    image_id: str
    image: str | np.ndarray
    label: int = -1
    map: np.ndarray | None = None


def read_image(path) -> np.ndarray:
    """Read an image file as (H, W, 3) uint8 RGB."""
    from PIL import Image

    try:
        with Image.open(path) as image:
            return np.asarray(image.convert("RGB"))
    except (OSError, ValueError) as err:
        raise InputError(f"cannot read image: {err}", path=path) from None


def _folder_samples(root: Path) -> tuple[list[Sample], list[str]]:
    classes = sorted(p.name for p in root.iterdir() if p.is_dir())
    folders = [(root / c, i) for i, c in enumerate(classes)] or [(root, -1)]
    samples = [Sample(p.stem, str(p), label)
               for folder, label in folders for p in sorted(folder.iterdir())
               if p.suffix.lower() in IMAGE_SUFFIXES]
    return samples, classes


def _manifest_samples(path: Path, label_column: str) -> tuple[list[Sample], list[str]]:
    try:
        table = pd.read_csv(path, dtype=str, keep_default_na=False)
    except (OSError, pd.errors.ParserError, UnicodeDecodeError) as err:
        raise InputError(f"cannot read manifest: {err}", path=path) from None
    if "image_id" not in table and "path" not in table:
        raise InputError(f"expected a column 'image_id' or 'path', got {list(table.columns)}",
                         path=path, field="image_id")
    if "path" not in table:
        table["path"] = "images/" + table["image_id"] + ".png"
    if "image_id" not in table:
        table["image_id"] = [Path(p).stem for p in table["path"]]
    classes: list[str] = []
    labels = [-1] * len(table)
    if label_column in table:
        values = table[label_column]
        if values.str.fullmatch(r"-?\d+").all():
            labels = [int(v) for v in values]
        else:
            classes = sorted(set(values))
            labels = [classes.index(v) for v in values]
    samples = []
    for line, (image_id, rel, label) in enumerate(zip(table["image_id"], table["path"], labels), 2):
        image = (path.parent / rel)
        if not image.is_file():
            raise InputError(f"image file {str(image)!r} not found", path=path, line=line, field="path")
        samples.append(Sample(image_id, str(image), label))
    return samples, classes


def _tfrecord_samples(paths: list[Path]) -> tuple[list[Sample], list[str]]:
    from clickme_analysis.tfrecord import read_clickme_tfrecord

    samples = []
    for path in paths:
        for index, record in enumerate(read_clickme_tfrecord(path)):
            image = np.clip(np.asarray(record["image"]), 0, 255).astype(np.uint8)
            heatmap = record["heatmap"] if record["click_count"] > 0 else None
            samples.append(Sample(f"{path.stem}:{index}", image, int(record["label"]), heatmap))
    return samples, []


def load_samples(path, maps=None, label_column: str = "label") -> tuple[list[Sample], list[str]]:
    """List the images of a dataset and attach their human maps.

    Parameters
    ----------
    path : str or os.PathLike
        A folder (``<class>/<image>.png``, or images directly: no labels), a CSV manifest
        (``image_id`` and/or ``path`` relative to the manifest, default ``images/<image_id>.png``;
        optional label column, integers or class names), or a TFRecord file / a folder named
        ``*.tfrecords`` ... (ClickMe 1.0 layout; ``click_count`` 0 means no map).
    maps : str or os.PathLike, optional
        A map archive (:class:`clickme_analysis.archive.MapArchive`) keyed by image id.
    label_column : str, default "label"
        Manifest column holding the class.

    Returns
    -------
    samples : list of Sample
    classes : list of str
        Class names in label order (empty when labels are integers or absent).
    """
    path = Path(path)
    if not path.exists():
        raise InputError("dataset not found", path=path)
    if path.is_file() and (path.suffix in TFRECORD_SUFFIXES or ".tfrecord" in path.name):
        samples, classes = _tfrecord_samples([path])
    elif path.is_dir() and any(".tfrecord" in p.name for p in path.iterdir()):
        samples, classes = _tfrecord_samples(sorted(p for p in path.iterdir() if ".tfrecord" in p.name))
    elif path.is_dir():
        samples, classes = _folder_samples(path)
    elif path.suffix.lower() == ".csv":
        samples, classes = _manifest_samples(path, label_column)
    else:
        raise InputError("expected a folder, a .csv manifest or a .tfrecord(s) file", path=path)
    if not samples:
        raise InputError("no images found", path=path)
    if maps is not None:
        from clickme_analysis.archive import MapArchive

        with MapArchive(maps) as archive:
            for sample in samples:
                if sample.image_id in archive:
                    sample.map = np.asarray(archive[sample.image_id], dtype=np.float32)
    return samples, classes


def _resize(tensor: torch.Tensor, size: int, mode: str) -> torch.Tensor:
    if tuple(tensor.shape[-2:]) == (size, size):
        return tensor
    return torch.nn.functional.interpolate(tensor[None], size=(size, size), mode=mode,
                                           align_corners=False, antialias=True)[0]


class PairedDataset(torch.utils.data.Dataset):
    """Images with their human maps, cropped and flipped together.

    Parameters
    ----------
    samples : list of Sample
    train : bool, default False
        Random ``image_size`` crop of the ``resize`` square and a random horizontal flip (same
        on image and map); otherwise the centre crop.
    image_size : int, default 224
    resize : int, default 256
        Images (and maps) are first resized to ``resize`` x ``resize``.
    blur_size : int, default 49
        Box blur of the maps before cropping (0: none), as the paper.
    map_source : {"clickme", "bbox"}, default "clickme"
        ``"bbox"``: the control that trains on the bounding box of the map's pixels above
        ``bbox_threshold`` x its maximum instead of the map itself (not blurred).
    bbox_threshold : float, default 0.5
    seed : int, default 0
        Crops and flips are drawn from (seed, epoch, index): reproducible and resumable.

    Items are dicts: ``image`` (3, S, S) float32 normalised with the ImageNet statistics,
    ``map`` (S, S) float32 (zeros when missing), ``has_map`` bool, ``label`` int64, ``index``.
    """

    def __init__(self, samples: list[Sample], train: bool = False, image_size: int = 224,
                 resize: int = 256, blur_size: int = 49, map_source: str = "clickme",
                 bbox_threshold: float = 0.5, seed: int = 0):
        if map_source not in ("clickme", "bbox"):
            raise InputError(f"expected map_source 'clickme' or 'bbox', got {map_source!r}",
                             field="map_source")
        if image_size > resize:
            raise InputError(f"image_size {image_size} exceeds resize {resize}", field="image_size")
        self.samples = samples
        self.train, self.image_size, self.resize = train, image_size, resize
        self.blur_size, self.map_source, self.bbox_threshold = blur_size, map_source, bbox_threshold
        self.seed, self.epoch = seed, 0

    def set_epoch(self, epoch: int) -> None:
        """Choose the epoch whose crops and flips are drawn."""
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.samples)

    def _map(self, sample: Sample) -> np.ndarray | None:
        from clickme_analysis.maps import blur_map, bounding_box_map

        if sample.map is None:
            return None
        human = np.asarray(sample.map, dtype=np.float64)
        if self.map_source == "bbox":
            return bounding_box_map(human, self.bbox_threshold * human.max())
        return blur_map(human, "box", self.blur_size) if self.blur_size > 1 else human

    def __getitem__(self, index: int) -> dict:
        sample = self.samples[index]
        image = read_image(sample.image) if isinstance(sample.image, str) else sample.image
        if image.ndim != 3 or image.shape[2] != 3:
            raise InputError(f"expected an (H, W, 3) image, got shape {image.shape}",
                             path=sample.image if isinstance(sample.image, str) else None)
        image = torch.from_numpy(np.array(image, dtype=np.uint8)).permute(2, 0, 1).float() / 255
        human = self._map(sample)
        has_map = human is not None
        human = (torch.from_numpy(np.asarray(human, dtype=np.float32))[None] if has_map
                 else torch.zeros(1, *image.shape[-2:]))
        image, human = _resize(image, self.resize, "bilinear"), _resize(human, self.resize, "bilinear")
        offset = (self.resize - self.image_size) // 2
        top = left = offset
        flip = False
        if self.train:
            rng = np.random.default_rng([self.seed, self.epoch, index])
            top, left = rng.integers(0, self.resize - self.image_size + 1, size=2)
            flip = bool(rng.integers(2))
        crop = (..., slice(top, top + self.image_size), slice(left, left + self.image_size))
        image, human = image[crop], human[crop]
        if flip:
            image, human = image.flip(-1), human.flip(-1)
        mean = torch.tensor(IMAGENET_MEAN)[:, None, None]
        std = torch.tensor(IMAGENET_STD)[:, None, None]
        return {"image": ((image - mean) / std).contiguous(), "map": human[0].contiguous(),
                "has_map": has_map, "label": sample.label, "index": index}
