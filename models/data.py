"""Paired image + human-map datasets for ClickMe training and scoring (small data in memory).

Three sources, chosen by :func:`load_samples` from the path: a folder of images (class labels
from sub-folder names), a CSV manifest, or ClickMe TFRecords (either published layout). Human
maps come from the records themselves (TFRecords) or from a map archive keyed by image id.
Large data sets are packed into shards (:mod:`models.shards`) and streamed instead.

Items are *decoded*, not augmented: ``resize`` x ``resize`` uint8 images, uint16-quantised maps
and each image's crop, drawn from (seed, epoch, index). :func:`models.augment.augment_batch`
crops, flips, blurs and normalises whole batches on the training device. :class:`PairedDataset`
applies that same function to one item at a time (evaluation, scoring, panels), and
:func:`eval_transform` is the one evaluation transform of a single image.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from clickme_analysis.errors import InputError
from models.augment import IMAGENET_MEAN, IMAGENET_STD, augment_batch, crop_params, quantise_map

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")
TFRECORD_SUFFIXES = (".tfrecord", ".tfrecords", ".gz")

__all__ = ["IMAGENET_MEAN", "IMAGENET_STD", "Sample", "read_image", "decode_image", "fit_image",
           "fit_map", "load_samples", "SampleDataset", "PairedDataset", "eval_transform"]


@dataclass
class Sample:
    """One image: a file path, encoded bytes or an (H, W, 3) uint8 array, a label (-1 unknown),
    an optional (H, W) map."""

    image_id: str
    image: str | bytes | np.ndarray
    label: int = -1
    map: np.ndarray | None = None


def read_image(path) -> np.ndarray:
    """Read an image file as (H, W, 3) uint8 RGB."""
    try:
        raw = Path(path).read_bytes()
    except OSError as err:
        raise InputError(f"cannot read image: {err}", path=path) from None
    return decode_image(raw, where={"path": path})


def decode_image(raw, *, gray: bool = False, where: dict | None = None) -> np.ndarray:
    """Decode image bytes to (H, W, 3) uint8 RGB (or (H, W) with ``gray``).

    JPEG goes through simplejpeg (libjpeg-turbo), anything else through Pillow. A file that
    does not decode raises :class:`InputError` located by ``where`` (``path``, ``line``, ...).

    Examples
    --------
    >>> import simplejpeg
    >>> raw = simplejpeg.encode_jpeg(np.full((8, 8, 3), 200, np.uint8), quality=95)
    >>> image = decode_image(raw); image.shape, int(image[0, 0, 0])
    ((8, 8, 3), 200)
    """
    from PIL import Image

    where = where or {}
    try:
        if _is_jpeg(raw):
            import simplejpeg

            image = simplejpeg.decode_jpeg(bytes(raw), colorspace="GRAY" if gray else "RGB")
            return image[..., 0] if gray else image
        import io

        with Image.open(io.BytesIO(bytes(raw))) as image:
            if gray and image.mode in ("L", "I;16", "I;16B", "I", "F"):
                return np.asarray(image)
            return np.asarray(image.convert("L" if gray else "RGB"))
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as err:
        raise InputError(f"cannot read image: {err}", **where) from None  # simplejpeg: ValueError


def decode_into(raw, out: np.ndarray, *, where: dict | None = None) -> None:
    """Decode image bytes into ``out`` (R, R, 3) uint8, resized when the image is not R x R.

    A JPEG of the right size decodes straight into ``out`` (no copy).
    """
    resize = out.shape[0]
    if _is_jpeg(raw):
        import simplejpeg

        try:
            height, width, _, _ = simplejpeg.decode_jpeg_header(bytes(raw))
            if (height, width) == (resize, resize):
                simplejpeg.decode_jpeg(bytes(raw), colorspace="RGB", buffer=out)
                return
        except ValueError as err:
            raise InputError(f"cannot read image: {err}", **(where or {})) from None
    out[...] = fit_image(decode_image(raw, where=where), resize)


def fit_image(image: np.ndarray, resize: int) -> np.ndarray:
    """(H, W, 3) uint8 resized to (resize, resize) (antialiased bilinear; unchanged if it fits).

    Examples
    --------
    >>> fit_image(np.zeros((10, 20, 3), np.uint8), 8).shape
    (8, 8, 3)
    """
    if image.ndim != 3 or image.shape[2] != 3:
        raise InputError(f"expected an (H, W, 3) image, got shape {image.shape}", field="image")
    if image.shape[:2] == (resize, resize):
        return image
    from PIL import Image

    return np.asarray(Image.fromarray(image).resize((resize, resize), Image.BILINEAR))


def fit_map(human: np.ndarray, resize: int) -> np.ndarray:
    """(H, W) float map resized to (resize, resize) (antialiased bilinear; unchanged if it fits)."""
    human = np.asarray(human, dtype=np.float32)
    if human.ndim != 2:
        raise InputError(f"expected an (H, W) map, got shape {human.shape}", field="map")
    if human.shape == (resize, resize):
        return human
    from PIL import Image

    return np.asarray(Image.fromarray(human, mode="F").resize((resize, resize), Image.BILINEAR))


def _folder_samples(root: Path) -> tuple[list[Sample], list[str]]:
    classes = sorted(p.name for p in root.iterdir() if p.is_dir())
    folders = [(root / c, i) for i, c in enumerate(classes)] or [(root, -1)]
    samples = [Sample(p.stem, str(p), label)
               for folder, label in folders for p in sorted(folder.iterdir())
               if p.suffix.lower() in IMAGE_SUFFIXES]
    return samples, classes


def _manifest_samples(path: Path, label_column: str) -> tuple[list[Sample], list[str]]:
    from clickme_analysis.io import read_table

    table = read_table(path, what="manifest", dtype=str, keep_default_na=False)
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


def _is_jpeg(raw) -> bool:
    return bytes(raw[:3]) == b"\xff\xd8\xff"


def tfrecord_records(path, *, decode: bool = True):
    """The samples of one ClickMe TFRecord file, either published layout.

    Layout (a), raw float32 ``image`` / ``heatmap`` with ``click_count`` (0: no map), is read by
    :func:`clickme_analysis.tfrecord.read_clickme_tfrecord`; layout (b), the Harmonization
    release, holds JPEG ``image`` and ``heatmap`` bytes and no ``click_count`` (every record has
    a map).

    Yields
    ------
    tuple
        ``(image_id, image, label, map)``: id ``"<file stem>:<record index>"``; ``image`` as
        JPEG bytes (layout b, ``decode=False``) or (H, W, 3) uint8; ``map`` float32 (H, W) or
        None.
    """
    from clickme_analysis.tfrecord import parse_example, read_clickme_tfrecord, read_tfrecord

    path = Path(path)
    first = next(iter(read_tfrecord(path)), None)
    if first is None:
        return
    features = parse_example(first)
    image = features.get("image")
    if not (isinstance(image, list) and len(image) == 1 and _is_jpeg(image[0])):
        for index, record in enumerate(read_clickme_tfrecord(path)):
            pixels = np.clip(np.round(record["image"]), 0, 255).astype(np.uint8)
            heatmap = record["heatmap"] if record["click_count"] > 0 else None
            yield f"{path.stem}:{index}", pixels, int(record["label"]), heatmap
        return
    for index, record in enumerate(read_tfrecord(path)):
        where = dict(path=path, line=index + 1)
        features = parse_example(record)
        try:
            raw, heat = features["image"][0], features["heatmap"][0]
            label = int(features["label"][0])
        except (KeyError, IndexError, TypeError):
            raise InputError(f"record {index + 1}: expected JPEG 'image' and 'heatmap' and an "
                             f"int64 'label', got features {sorted(features)}", **where) from None
        heatmap = decode_image(heat, gray=True, where=where).astype(np.float32)
        yield (f"{path.stem}:{index}", decode_image(raw, where=where) if decode else bytes(raw),
               label, heatmap)


def _packed_samples(folder: Path) -> tuple[list[Sample], list[str]]:
    """A packed folder (:mod:`models.shards`) read into memory (small evaluation sets)."""
    import json

    from models.shards import decode_map_png, iter_shard, read_index

    index = read_index(folder)
    samples = []
    for shard in index["shards"]:
        for key, parts in iter_shard(folder / shard["name"], shard["n_samples"]):
            meta = json.loads(parts["json"])
            human = None
            if meta.get("has_map"):
                q = decode_map_png(parts["map.png"], where={"path": folder / shard["name"],
                                                            "field": key})
                human = (meta["map_offset"] + q * meta["map_scale"]).astype(np.float32)
            samples.append(Sample(meta["image_id"], parts.get("jpg") or parts.get("png"),
                                  int(meta["label"]), human))
    return samples, list(index.get("classes", []))


def _tfrecord_samples(paths: list[Path]) -> tuple[list[Sample], list[str]]:
    samples = [Sample(image_id, image, label, heatmap) for path in paths
               for image_id, image, label, heatmap in tfrecord_records(path)]
    return samples, []


def tfrecord_files(path: Path) -> list[Path] | None:
    """The TFRecord files a dataset path names (a file or a folder of them), else None."""
    if path.is_file() and (path.suffix in TFRECORD_SUFFIXES or ".tfrecord" in path.name):
        return [path]
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if ".tfrecord" in p.name)
        return files or None
    return None


def list_samples(path, label_column: str = "label") -> tuple[list[Sample], list[str]]:
    """The images of a folder or a manifest (paths, labels; nothing read). See :func:`load_samples`."""
    path = Path(path)
    if not path.exists():
        raise InputError("dataset not found", path=path)
    if path.is_dir():
        samples, classes = _folder_samples(path)
    elif path.suffix.lower() == ".csv":
        samples, classes = _manifest_samples(path, label_column)
    else:
        raise InputError("expected a folder, a .csv manifest or a .tfrecord(s) file", path=path)
    if not samples:
        raise InputError("no images found", path=path)
    return samples, classes


def load_samples(path, maps=None, label_column: str = "label") -> tuple[list[Sample], list[str]]:
    """List the images of a dataset and attach their human maps.

    Parameters
    ----------
    path : str or os.PathLike
        A packed folder (``clickme pack``: read into memory, for small sets), a folder
        (``<class>/<image>.png``, or images directly: no labels), a CSV manifest
        (``image_id`` and/or ``path`` relative to the manifest, default ``images/<image_id>.png``;
        optional label column, integers or class names), or a TFRecord file / a folder named
        ``*.tfrecords`` ... (ClickMe 1.0, either layout; ``click_count`` 0 means no map).
    maps : str or os.PathLike, optional
        Any map source :func:`clickme_analysis.archive.open_maps` reads (archive, store,
        folder), keyed by image id. No id in common is an error; some images
        without a map a warning with the counts (they train without the attention term).
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
    files = tfrecord_files(path)
    if (path / "index.json").is_file() and maps is None:
        samples, classes = _packed_samples(path)
    elif files is not None:
        samples, classes = _tfrecord_samples(files)
        if not samples:
            raise InputError("no records found", path=path)
    else:
        samples, classes = list_samples(path, label_column)
    if maps is not None:
        from clickme_analysis.archive import open_maps

        with open_maps(maps) as source:
            matched = set(match_maps(source, [s.image_id for s in samples], maps))
            for sample in samples:
                if sample.image_id in matched:
                    sample.map = np.asarray(source[sample.image_id], dtype=np.float32)
    return samples, classes


def match_maps(source, image_ids: list[str], where=None) -> list[str]:
    """The training images that have a map: an error when none does, a warning with counts
    when only some do (:func:`clickme_analysis.ids.match_ids`)."""
    from clickme_analysis.ids import match_ids

    try:
        return match_ids(list(source), image_ids, what="maps", other="images")
    except InputError as err:
        raise InputError(err.message, path=where, field="maps") from None


def decoded_item(image: np.ndarray | None, map_q: np.ndarray | None, map_offset: float,
                 map_scale: float, label: int, index: int, *, resize: int, image_size: int,
                 train: bool, seed: int, epoch: int, encoded: bytes | None = None) -> dict:
    """One decoded item (what a loader worker hands over): see :func:`collate_decoded`."""
    top, left, flip = crop_params(seed, epoch, index, resize, image_size, train)
    has_map = map_q is not None
    item = {"map_q": map_q if has_map else np.zeros((resize, resize), np.uint16),
            "map_offset": map_offset if has_map else 0.0, "map_scale": map_scale if has_map else 0.0,
            "has_map": has_map, "label": label, "index": index, "top": top, "left": left,
            "flip": flip}
    if encoded is not None:
        item["encoded"] = encoded
    else:
        item["image"] = image
    return item


def quantised_fit(human: np.ndarray, resize: int) -> tuple[np.ndarray, float, float]:
    """A float map resized to ``resize`` and quantised (:func:`models.augment.quantise_map`)."""
    return quantise_map(fit_map(human, resize))


def collate_decoded(items: list[dict]) -> dict:
    """Stack decoded items into a batch of tensors (``encoded`` bytes stay a list)."""
    batch = {"map_q": torch.from_numpy(np.stack([i["map_q"] for i in items]))}
    if "image" in items[0]:
        batch["image"] = torch.from_numpy(np.stack([i["image"] for i in items]))
    else:
        batch["encoded"] = [i["encoded"] for i in items]
    for key, dtype in (("map_offset", torch.float32), ("map_scale", torch.float32),
                       ("has_map", torch.bool), ("label", torch.int64), ("index", torch.int64),
                       ("top", torch.int64), ("left", torch.int64), ("flip", torch.bool)):
        batch[key] = torch.tensor([i[key] for i in items], dtype=dtype)
    if "image_id" in items[0]:
        batch["image_id"] = [i["image_id"] for i in items]
    return batch


def _check_sizes(image_size: int, resize: int) -> None:
    if image_size > resize:
        raise InputError(f"image_size {image_size} exceeds resize {resize}", field="image_size")


class SampleDataset(torch.utils.data.Dataset):
    """In-memory / file samples as decoded items (small data; large sets stream from shards).

    Parameters
    ----------
    samples : list of Sample
    train : bool, default False
        Random crops and flips from (seed, epoch, index); otherwise the centre crop.
    image_size : int, default 224
    resize : int, default 256
        Images and maps are resized to ``resize`` x ``resize`` here; the crop is done later,
        on whole batches, by :func:`models.augment.augment_batch`.
    seed : int, default 0
    """

    def __init__(self, samples: list[Sample], train: bool = False, image_size: int = 224,
                 resize: int = 256, seed: int = 0):
        _check_sizes(image_size, resize)
        self.samples, self.train, self.image_size, self.resize = samples, train, image_size, resize
        self.seed, self.epoch = seed, 0

    def set_epoch(self, epoch: int) -> None:
        """Choose the epoch whose crops and flips are drawn."""
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, index: int) -> dict:
        sample = self.samples[index]
        if isinstance(sample.image, str):
            image = read_image(sample.image)
        elif isinstance(sample.image, bytes | bytearray):
            image = decode_image(sample.image, where={"field": sample.image_id})
        else:
            image = np.asarray(sample.image)
        if image.ndim != 3 or image.shape[2] != 3:
            raise InputError(f"expected an (H, W, 3) image, got shape {image.shape}",
                             path=sample.image if isinstance(sample.image, str) else None)
        image = fit_image(np.asarray(image, dtype=np.uint8), self.resize)
        q, offset, scale = (None, 0.0, 0.0) if sample.map is None else \
            quantised_fit(sample.map, self.resize)
        item = decoded_item(image, q, offset, scale, sample.label, index, resize=self.resize,
                            image_size=self.image_size, train=self.train, seed=self.seed,
                            epoch=self.epoch)
        item["image_id"] = sample.image_id
        return item


class PairedDataset(torch.utils.data.Dataset):
    """Images with their human maps, cropped and flipped together, one item at a time.

    The same transforms as training (:func:`models.augment.augment_batch` on a batch of one):
    for evaluation, scoring and panels. Training uses :class:`SampleDataset` or
    :class:`models.shards.ShardStream` batches instead.

    Parameters
    ----------
    samples : list of Sample
    train : bool, default False
        Random ``image_size`` crop of the ``resize`` square and a random horizontal flip (same
        on image and map); otherwise the centre crop.
    image_size : int, default 224
    resize : int, default 256
    blur_size : int, default 49
        Box blur of the maps before cropping (0: none), as the paper.
    map_source : {"clickme", "bbox"}, default "clickme"
        ``"bbox"``: the bounding box of the map's pixels above ``bbox_threshold`` x its maximum
        instead of the map itself (not blurred).
    bbox_threshold : float, default 0.5
    seed : int, default 0

    Items are dicts: ``image`` (3, S, S) float32 normalised with the ImageNet statistics,
    ``map`` (S, S) float32 (zeros when missing), ``has_map`` bool, ``label`` int64, ``index``.
    """

    def __init__(self, samples: list[Sample], train: bool = False, image_size: int = 224,
                 resize: int = 256, blur_size: int = 49, map_source: str = "clickme",
                 bbox_threshold: float = 0.5, seed: int = 0):
        if map_source not in ("clickme", "bbox"):
            raise InputError(f"expected map_source 'clickme' or 'bbox', got {map_source!r}",
                             field="map_source")
        self.decoded = SampleDataset(samples, train, image_size, resize, seed)
        self.samples, self.image_size = samples, image_size
        self.options = dict(image_size=image_size, blur_size=blur_size, map_source=map_source,
                            bbox_threshold=bbox_threshold)

    def set_epoch(self, epoch: int) -> None:
        """Choose the epoch whose crops and flips are drawn."""
        self.decoded.set_epoch(epoch)

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, index: int) -> dict:
        batch = augment_batch(collate_decoded([self.decoded[index]]), **self.options)
        return {"image": batch["image"][0], "map": batch["map"][0],
                "has_map": bool(batch["has_map"][0]), "label": int(batch["label"][0]),
                "index": index}


def eval_transform(image: np.ndarray, image_size: int = 224, resize: int = 256) -> torch.Tensor:
    """The evaluation transform of one (H, W, 3) uint8 image: resize, centre crop, normalise.

    The one transform every evaluation shares (validation, scoring, the game's model partner).

    Returns
    -------
    Tensor (3, image_size, image_size) float32

    Examples
    --------
    >>> x = eval_transform(np.zeros((40, 40, 3), np.uint8), image_size=28, resize=32)
    >>> tuple(x.shape), round(float(x[0, 0, 0]), 4)
    ((3, 28, 28), -2.1179)
    """
    _check_sizes(image_size, resize)
    image = fit_image(np.asarray(image, dtype=np.uint8), resize)
    item = decoded_item(image, None, 0.0, 0.0, -1, 0, resize=resize, image_size=image_size,
                        train=False, seed=0, epoch=0)
    return augment_batch(collate_decoded([item]), image_size=image_size, blur_size=0)["image"][0]
