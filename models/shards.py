"""Training shards: ``clickme pack`` writes WebDataset tar shards, :class:`ShardStream` reads them.

Format: WebDataset (https://github.com/webdataset/webdataset): plain POSIX tar files whose
members ``<key>.<ext>`` group into samples by key, read sequentially (no random access, no
index needed, any tool can list them, ``webdataset.WebDataset`` reads them as they are). Chosen
over MosaicML streaming because a shard is a standard tar (inspectable with ``tar tf``, written
with the standard library), and because this module reads the shards itself: the sample order
must be a function of (seed, epoch, rank, worker) for exact resumption, and a damaged shard must
stop training with an error naming the shard and the sample, which neither library's reader
promises. Shards are written with the standard library's ``tarfile`` (fixed member metadata, so
the same input gives the same bytes; ``webdataset.TarWriter`` stamps the current time).

The format (members per sample, the map PNG, ``index.json``) is described and read by
:mod:`models.shard_format`; this module writes it (:func:`pack`) and streams it
(:class:`ShardStream`).
"""

from __future__ import annotations

import concurrent.futures
import io
import json
import math
import multiprocessing
import tarfile
from pathlib import Path

import numpy as np
import simplejpeg
import torch
from PIL import Image

from clickme_analysis.archive import open_maps
from clickme_analysis.errors import InputError
from clickme_analysis.fileio import AppendLog, atomic_write, atomic_write_text, read_jsonl
from clickme_analysis.progress import progress as progress_bar
from models.augment import crop_params, quantise_map
from models.decode import decode_image, decode_into, fit_map, is_jpeg
from models.shard_format import FORMAT, INDEX, PNG_SIGNATURE, decode_map_png, encode_map_png, iter_shard, read_index
from models.sources import list_samples, match_maps, tfrecord_records, tfrecord_source

DONE_LIST = "pack.jsonl"
POSITIONS = 10**7  # sample index = shard * POSITIONS + position


# ----------------------------------------------------------------------------------------------
# writing
# ----------------------------------------------------------------------------------------------
def _png(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="PNG", compress_level=6)
    return buffer.getvalue()


def _add(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size, info.mtime, info.mode = len(data), 0, 0o644
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    tar.addfile(info, io.BytesIO(data))


def encode_sample(image, human, *, jpeg_quality: int = 0, map_bits: int = 8) -> tuple[str, bytes, dict, bytes | None]:
    """Image bytes (kept when JPEG or PNG) and map PNG of one sample, checked by decoding.

    Returns ``(extension, image_bytes, map_fields, map_png)``; raises InputError (the caller
    records it as a skip) when the image does not decode.
    """
    if isinstance(image, bytes | bytearray):
        pixels = decode_image(image)
        raw = bytes(image)
        if is_jpeg(raw):
            ext, data = "jpg", raw
        elif raw[:8] == PNG_SIGNATURE:
            ext, data = "png", raw
        else:
            ext, data = "png", _png(pixels)
    else:
        pixels = np.asarray(image)
        if pixels.ndim != 3 or pixels.shape[2] != 3 or pixels.dtype != np.uint8:
            raise InputError(f"expected an (H, W, 3) uint8 image, got {pixels.dtype} {pixels.shape}")
        ext, data = "png", _png(pixels)
    if jpeg_quality and ext != "jpg":
        ext, data = "jpg", simplejpeg.encode_jpeg(np.ascontiguousarray(pixels), quality=jpeg_quality)
    fields = {"has_map": human is not None, "map_offset": 0.0, "map_scale": 0.0}
    map_png = None
    if human is not None:
        q, offset, scale = quantise_map(human, map_bits)
        fields.update(map_offset=offset, map_scale=scale)
        map_png = encode_map_png(q)
    return ext, data, fields, map_png


def _job_samples(job: dict, maps):
    """(image_id, image bytes or array, label, map or None, skip reason or None) of one job."""
    if job["kind"] == "tfrecord":
        for image_id, image, label, heatmap in tfrecord_records(job["path"], decode=False):
            yield image_id, image, label, heatmap, None
        return
    for image_id, path, label in job["samples"]:
        try:
            image = Path(path).read_bytes()
        except OSError as err:
            yield image_id, None, label, None, f"cannot read image {path}: {err.strerror or err}"
            continue
        human = None
        if maps is not None and image_id in maps:
            human = np.asarray(maps[image_id], dtype=np.float32)
        yield image_id, image, label, human, None


def write_shard(job: dict, out: str, maps_path: str | None, *, jpeg_quality: int = 0, map_bits: int = 8) -> dict:
    """Write one shard (atomically) and return its done-list record."""
    name = f"shard-{job['shard']:06d}.tar"
    skipped, n_samples, n_maps, labels = [], 0, 0, []
    maps = open_maps(maps_path) if maps_path else None
    try:
        with atomic_write(Path(out) / name) as fh:
            with tarfile.open(fileobj=fh, mode="w", format=tarfile.USTAR_FORMAT) as tar:
                for position, (image_id, image, label, human, reason) in enumerate(_job_samples(job, maps)):
                    if reason is None:
                        try:
                            ext, data, fields, map_png = encode_sample(
                                image, human, jpeg_quality=jpeg_quality, map_bits=map_bits
                            )
                        except InputError as err:
                            reason = err.message
                    if reason is not None:
                        skipped.append({"image_id": image_id, "reason": reason})
                        continue
                    key = f"{job['shard']:06d}-{position:07d}"
                    meta = {
                        "image_id": image_id,
                        "label": int(label),
                        "index": job["shard"] * POSITIONS + position,
                        **fields,
                    }
                    _add(tar, f"{key}.{ext}", data)
                    if map_png is not None:
                        _add(tar, f"{key}.map.png", map_png)
                        n_maps += 1
                    _add(tar, f"{key}.json", json.dumps(meta, sort_keys=True).encode())
                    n_samples += 1
                    labels.append(int(label))
    finally:
        if maps is not None:
            maps.close()
    return {
        "shard": name,
        "n_samples": n_samples,
        "n_maps": n_maps,
        "skipped": skipped,
        "label_range": [min(labels), max(labels)] if labels else None,
    }


def _jobs(source: Path, maps: str | None, label_column: str, shard_size: int):
    """The shard jobs of a source and its class names."""
    files = tfrecord_source(source)
    if files is not None:
        if maps:
            raise InputError(
                "ClickMe TFRecords carry their own maps; --maps is for folders and manifests", path=maps, field="maps"
            )
        return [{"shard": i, "kind": "tfrecord", "path": str(f)} for i, f in enumerate(files)], []
    samples, classes = list_samples(source, label_column)
    if maps:
        with open_maps(maps) as source_maps:
            match_maps(source_maps, [s.image_id for s in samples], maps)
    rows = [(s.image_id, str(s.image), int(s.label)) for s in samples]
    return [
        {"shard": i // shard_size, "kind": "files", "samples": rows[i : i + shard_size]}
        for i in range(0, len(rows), shard_size)
    ], classes


def pack(
    source,
    out,
    *,
    maps=None,
    label_column: str = "label",
    shard_size: int = 1000,
    workers: int = 0,
    jpeg_quality: int = 0,
    map_bits: int = 8,
    progress: bool = True,
) -> dict:
    """Convert a dataset into WebDataset shards for streaming training.

    Parameters
    ----------
    source : str or os.PathLike
        Anything :func:`models.sources.load_samples` reads: an image folder, a CSV manifest, a
        ClickMe TFRecord file, folder or glob (either layout; one shard per TFRecord file, in
        shard order: ``val-2`` before ``val-10``).
    out : str or os.PathLike
        Output folder (created). Rerun the same command after a kill: finished shards (in
        ``pack.jsonl``) are kept, the rest are written.
    maps : str or os.PathLike, optional
        Map source for folders and manifests (:func:`clickme_analysis.archive.open_maps`).
    shard_size : int, default 1000
        Samples per shard (folders and manifests).
    workers : int, default 0
        Processes writing shards in parallel (0: in this process).
    jpeg_quality : int, default 0
        0 keeps non-JPEG images lossless (PNG); 1-100 encodes them as JPEG (JPEG inputs are
        never re-encoded).
    map_bits : {8, 16}, default 8
        Map quantisation: error at most (max - min) / 510 per pixel with 8 bits (exact for the
        uint8 heatmaps of the ClickMe releases), (max - min) / 131070 with 16; 8-bit maps decode
        in half the time.
    progress : bool
        A progress bar over shards (on a terminal only).

    Returns
    -------
    dict
        The index written to ``out/index.json``: ``n_samples``, ``n_maps``, ``shards``,
        ``classes``, ``skipped`` (image id and reason of every input left out).

    Examples
    --------
    >>> import tempfile, pathlib, numpy as np
    >>> from PIL import Image
    >>> root = pathlib.Path(tempfile.mkdtemp())
    >>> (root / "cat").mkdir(); Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(root / "cat" / "a.png")
    >>> index = pack(root, root.parent / (root.name + "-shards"), progress=False)
    >>> index["n_samples"], [s["name"] for s in index["shards"]], index["classes"]
    (1, ['shard-000000.tar'], ['cat'])
    """
    _check_pack_options(shard_size, map_bits, jpeg_quality)
    source, out = Path(source), Path(out)
    jobs, classes = _jobs(source, str(maps) if maps else None, label_column, shard_size)
    options = {
        "source": str(source.resolve()),
        "maps": str(Path(maps).resolve()) if maps else "",
        "label_column": label_column,
        "shard_size": shard_size,
        "jpeg_quality": jpeg_quality,
        "map_bits": map_bits,
    }
    out.mkdir(parents=True, exist_ok=True)
    done = _write_pending_shards(out, jobs, options, workers, progress)
    index = _index([done[f"shard-{j['shard']:06d}.tar"] for j in jobs], classes, map_bits)
    if not index["n_samples"]:
        raise InputError(
            f"no sample could be packed ({len(index['skipped'])} skipped, first: {index['skipped'][:1]})", path=source
        )
    atomic_write_text(out / INDEX, json.dumps(index, indent=1, sort_keys=True) + "\n")
    return index


def _write_pending_shards(out: Path, jobs: list[dict], options: dict, workers: int, progress: bool) -> dict:
    """Write the shards of ``jobs`` not yet in ``out``'s done-list, appending each to it; every
    shard's record, by shard name."""
    done = _finished_shards(out, options)
    with AppendLog(out / DONE_LIST) as log:
        if log.n_existing == 0:
            log.append(json.dumps({"options": options}, sort_keys=True))
        pending = [j for j in jobs if f"shard-{j['shard']:06d}.tar" not in done]
        args = {
            "out": str(out),
            "maps_path": options["maps"] or None,
            "jpeg_quality": options["jpeg_quality"],
            "map_bits": options["map_bits"],
        }
        for record in progress_bar(
            _run(pending, args, workers), enabled=progress, total=len(pending), desc="pack", unit="shard"
        ):
            log.append(json.dumps(record, sort_keys=True))
            done[record["shard"]] = record
    return done


def _check_pack_options(shard_size: int, map_bits: int, jpeg_quality: int) -> None:
    if shard_size < 1 or shard_size >= POSITIONS:
        raise InputError(f"expected 1 <= shard_size < {POSITIONS}, got {shard_size}", field="shard_size")
    if map_bits not in (8, 16):
        raise InputError(f"expected map_bits 8 or 16, got {map_bits}", field="map_bits")
    if not 0 <= jpeg_quality <= 100:
        raise InputError(f"expected jpeg_quality in 0..100, got {jpeg_quality}", field="jpeg_quality")


def _finished_shards(out: Path, options: dict) -> dict:
    """The done-list records of the shards already in ``out`` (a resumed run), by shard name.

    A done-list written with other options is an error: the shards would not fit together.
    """
    if not (out / DONE_LIST).exists():
        return {}
    records = [r for _, r in read_jsonl(out / DONE_LIST, partial_last_ok=True)]
    if records and records[0].get("options") != options:
        raise InputError(
            f"this folder holds shards packed with other options ({records[0].get('options')}); pack into a new folder",
            path=out / DONE_LIST,
            field="options",
        )
    return {r["shard"]: r for r in records[1:] if (out / r["shard"]).is_file()}


def _index(shards: list[dict], classes: list[str], map_bits: int) -> dict:
    """The ``index.json`` of a packed folder from its shards' done-list records, in order."""
    index = {
        "format": FORMAT,
        "n_samples": sum(s["n_samples"] for s in shards),
        "n_maps": sum(s["n_maps"] for s in shards),
        "classes": classes,
        "shards": [
            {"name": s["shard"], "n_samples": s["n_samples"], "n_maps": s["n_maps"]} for s in shards if s["n_samples"]
        ],
        "skipped": [dict(item, shard=s["shard"]) for s in shards for item in s["skipped"]],
        "map_encoding": f"png{map_bits}: map = map_offset + q * map_scale",
    }
    ranges = [s["label_range"] for s in shards if s.get("label_range")]
    index["label_range"] = [min(r[0] for r in ranges), max(r[1] for r in ranges)] if ranges else [-1, -1]
    return index


def _run(jobs: list[dict], args: dict, workers: int):
    """Write the shards of ``jobs``, in parallel processes when ``workers`` > 0."""
    if workers <= 0:
        for job in jobs:
            yield write_shard(job, **args)
        return
    context = multiprocessing.get_context("spawn")
    with concurrent.futures.ProcessPoolExecutor(workers, mp_context=context) as pool:
        futures = [pool.submit(write_shard, job, **args) for job in jobs]
        for future in concurrent.futures.as_completed(futures):
            yield future.result()


# ----------------------------------------------------------------------------------------------
# reading
# ----------------------------------------------------------------------------------------------
def _metadata(key: str, parts: dict, shard: Path) -> tuple[bytes, dict, dict]:
    """The image bytes and metadata of one sample, and where it is (for errors)."""
    where = {"path": shard, "field": key}
    try:
        meta = json.loads(parts["json"])
        raw = parts.get("jpg") or parts.get("png")
        if raw is None:
            raise KeyError("image")
    except (KeyError, ValueError) as err:
        raise InputError(
            f"shard {shard.name}, sample {key}: missing or bad member ({err}); members: {sorted(parts)}", **where
        ) from None
    where["field"] = f"{key} ({meta.get('image_id')})"
    return raw, meta, where


def _decode_map(parts: dict, meta: dict, shard: Path, key: str, where: dict, out: np.ndarray) -> None:
    """Write the sample's quantised map into ``out`` (R, R) uint16 (resized when needed)."""
    if "map.png" not in parts:
        raise InputError(f"shard {shard.name}, sample {key}: has_map but no map member", **where)
    q = decode_map_png(parts["map.png"], where=where)
    if q.shape != out.shape:
        q, meta["map_offset"], meta["map_scale"] = quantise_map(
            fit_map(meta["map_offset"] + q.astype(np.float64) * meta["map_scale"], out.shape[0])
        )
    out[...] = q


class ShardStream(torch.utils.data.IterableDataset):
    """Decoded training or evaluation batches streamed from a packed folder.

    An iterable dataset for ``torch.utils.data.DataLoader(stream, batch_size=None,
    num_workers=W)``: each loader worker reads its own shards and yields whole batches
    (:func:`models.data.collate_decoded`), so memory is a shuffle buffer per worker whatever
    the data set size.

    Order (training): the shard list is permuted from (seed, epoch); rank ``r`` of ``world``
    reads every ``world``-th shard of it and worker ``w`` of ``W`` every ``W``-th of those:
    disjoint shards. Each rank yields exactly ``ceil(ceil(N / world) / batch_size)`` batches
    (equal on every rank, as DistributedDataParallel needs); the DataLoader takes batches from
    its workers in turn, so worker ``w`` makes batches ``w, w + W, ...``, reading its shards
    in shuffled passes (a shuffle buffer seeded by (seed, epoch, rank, w)). A sample may thus be
    seen twice or not at all within one epoch when a worker's shards hold more or fewer samples
    than its share; shards are reassigned every epoch. ``start`` skips the first batches
    without decoding them (and rotates the readers over the loader workers), so a run resumed
    mid-epoch sees exactly the batches it would have.

    Evaluation (``train=False``): every sample once, in shard order, the last batch partial.

    Parameters
    ----------
    folder : str or os.PathLike
        A folder written by :func:`pack`.
    batch_size : int
    train : bool
    image_size, resize : int
        Crop side and the square every image and map is resized to.
    seed : int
    rank, world : int
        This process and the number of processes (DistributedDataParallel).
    shuffle_buffer : int, default 1000
        Samples held per worker for shuffling (training).
    decode : bool, default True
        Decode images in the workers; False hands over the bytes (``encoded``) for
        :func:`models.augment.decode_on_device` (nvJPEG on a GPU).
    """

    def __init__(
        self,
        folder,
        batch_size: int,
        *,
        train: bool = False,
        image_size: int = 224,
        resize: int = 256,
        seed: int = 0,
        rank: int = 0,
        world: int = 1,
        shuffle_buffer: int = 1000,
        decode: bool = True,
    ):
        self.folder = Path(folder)
        self.index = read_index(self.folder)
        self.shards = [(self.folder / s["name"], int(s["n_samples"])) for s in self.index["shards"]]
        if len(self.shards) < world:
            raise InputError(
                f"{len(self.shards)} shards cannot be split over {world} processes; pack with a smaller --shard-size",
                path=self.folder,
            )
        if image_size > resize:
            raise InputError(f"image_size {image_size} exceeds resize {resize}", field="image_size")
        self.batch_size, self.train, self.image_size, self.resize = batch_size, train, image_size, resize
        self.seed, self.rank, self.world = seed, rank, world
        self.shuffle_buffer, self.decode = max(1, shuffle_buffer), decode
        self.epoch, self.start = 0, 0
        self.n_samples = int(self.index["n_samples"])
        self.classes = list(self.index.get("classes", []))

    def __len__(self) -> int:
        """Batches this rank yields in one epoch (from ``start`` on)."""
        if self.train:
            return self.steps_per_epoch() - self.start
        return sum(math.ceil(n / self.batch_size) for _, n in self.shards)

    def steps_per_epoch(self) -> int:
        """Batches per rank per epoch (training)."""
        return math.ceil(math.ceil(self.n_samples / self.world) / self.batch_size)

    def set_epoch(self, epoch: int, start: int = 0) -> None:
        """Choose the epoch (shard order, shuffle, crops) and the first batch to yield."""
        self.epoch, self.start = epoch, start

    def max_workers(self) -> int:
        """Loader workers that each get at least one shard of every rank."""
        return max(1, len(self.shards) // self.world)

    def rank_shards(self) -> list[tuple[Path, int]]:
        """This rank's shards for the current epoch."""
        if not self.train:
            return self.shards
        order = np.random.default_rng([self.seed, self.epoch]).permutation(len(self.shards))
        return [self.shards[i] for i in order[self.rank :: self.world]]

    @staticmethod
    def _samples(shards):
        for path, n in shards:
            for key, parts in iter_shard(path, n):
                yield path, key, parts

    def _passes(self, shards, rng):
        """Endless shuffled passes over ``shards`` (a sample repeats only in a later pass)."""
        while True:
            yield from self._shuffled(self._samples(shards), rng)

    def _shuffled(self, stream, rng):
        buffer = []
        for item in stream:
            if len(buffer) < self.shuffle_buffer:
                buffer.append(item)
                continue
            j = int(rng.integers(len(buffer)))
            buffer[j], item = item, buffer[j]
            yield item
        order = rng.permutation(len(buffer))
        for j in order:
            yield buffer[j]

    def _worker_batches(self, worker: int, workers: int) -> list[int]:
        """Sizes of the batches worker ``worker`` makes this epoch (training)."""
        per_rank = math.ceil(self.n_samples / self.world)
        steps = self.steps_per_epoch()
        sizes = [min(self.batch_size, per_rank - i * self.batch_size) for i in range(steps)]
        return sizes[worker::workers]

    def __iter__(self):
        info = torch.utils.data.get_worker_info()
        worker, workers = (info.id, info.num_workers) if info is not None else (0, 1)
        if self.train:
            # the DataLoader asks workers 0, 1, ... in turn from batch `start` on: loader worker
            # `worker` plays the part of reader (start + worker) mod W, which makes batches
            # start + worker, start + worker + W, ...
            worker = (worker + self.start) % workers
        shards = self.rank_shards()[worker::workers]
        if not shards and not self.train:
            return
        if not shards:
            raise InputError(
                f"loader worker {worker} of {workers} has no shard ({len(self.shards)} "
                f"shards, {self.world} processes): use at most "
                f"{self.max_workers()} workers",
                path=self.folder,
                field="workers",
            )
        if not self.train:
            yield from self._batches(self._samples(shards), None)
            return
        rng = np.random.default_rng([self.seed, self.epoch, self.rank, worker])
        sizes = self._worker_batches(worker, workers)
        skip = len(range(worker, self.start, workers))  # this reader's batches before `start`
        stream = self._passes(shards, rng)
        for _ in range(sum(sizes[:skip])):
            next(stream)
        yield from self._batches(stream, sizes[skip:])

    def _batches(self, stream, sizes):
        sizes = iter(sizes) if sizes is not None else None
        target = next(sizes, None) if sizes is not None else self.batch_size
        pending = []
        while target is not None:
            item = next(stream, None)
            if item is not None:
                pending.append(item)
            if pending and (item is None or len(pending) == target):
                yield self._collate(pending)
                pending = []
                target = next(sizes, None) if sizes is not None else self.batch_size
            if item is None:
                return

    def _collate(self, pending: list) -> dict:
        """Decode samples straight into the arrays of one batch."""
        n, size = len(pending), self.resize
        images = np.empty((n, size, size, 3), np.uint8) if self.decode else None
        maps = np.zeros((n, size, size), np.uint16)
        columns = {k: [] for k in ("map_offset", "map_scale", "has_map", "label", "index", "image_id")}
        encoded = []
        for i, (path, key, parts) in enumerate(pending):
            raw, meta, where = _metadata(key, parts, path)
            if self.decode:
                decode_into(raw, images[i], where=where)
            else:
                encoded.append(raw)
            has_map = bool(meta.get("has_map"))
            if has_map:
                _decode_map(parts, meta, path, key, where, maps[i])
            for name, value in (
                ("map_offset", meta["map_offset"] if has_map else 0.0),
                ("map_scale", meta["map_scale"] if has_map else 0.0),
                ("has_map", has_map),
                ("label", int(meta["label"])),
                ("index", int(meta["index"])),
                ("image_id", meta["image_id"]),
            ):
                columns[name].append(value)
        top, left, flip = crop_params(self.seed, self.epoch, columns["index"], size, self.image_size, train=self.train)
        batch = {
            "map_q": torch.from_numpy(maps),
            "image_id": columns.pop("image_id"),
            "top": torch.from_numpy(top),
            "left": torch.from_numpy(left),
            "flip": torch.from_numpy(flip),
        }
        if self.decode:
            batch["image"] = torch.from_numpy(images)
        else:
            batch["encoded"] = encoded
        for name, dtype in (
            ("map_offset", torch.float32),
            ("map_scale", torch.float32),
            ("has_map", torch.bool),
            ("label", torch.int64),
            ("index", torch.int64),
        ):
            batch[name] = torch.tensor(columns[name], dtype=dtype)
        return batch
