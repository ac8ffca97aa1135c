"""Clicks grouped by image on disk, so ClickMe-size logs are processed in bounded memory.

Reading a log (:class:`~clickme_analysis.clicklog.ClickReader`) appends each block of clicks to one of
several bucket files chosen by image (``image code % n_buckets``), so every click of an image
lies in one bucket; a bucket is small enough to sort and paint in memory. Alongside, the store
counts the clicks of every (image, participant) map, which is all the filters (``min_clicks``,
``max_clicks``) and the reliability draws need before any click is read back.

Memory is set by the bucket size (about ``bucket_clicks`` clicks, 32 bytes each), not by the
size of the log. Small logs (fewer clicks than one bucket) stay in memory.
"""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from clickme_analysis.clicklog import ClickReader
from clickme_analysis.errors import InputError
from clickme_analysis.progress import progress as bar

RECORD = np.dtype([("image", "<i4"), ("participant", "<i4"), ("x", "<f8"), ("y", "<f8"), ("t", "<f8")])
#: clicks a bucket is sized for (about 64 MB of records)
BUCKET_CLICKS = 2_000_000
#: bytes of log text per click assumed when sizing buckets (ClickMe 2.0 CSV: about 9)
_BYTES_PER_CLICK = 4


@dataclass
class Pairs:
    """One row per (image, participant) map: codes and click counts."""

    image: np.ndarray  # int32
    participant: np.ndarray  # int32
    n_clicks: np.ndarray  # int64


class ClickStore:
    """Clicks of one or more logs, grouped by image in buckets (see the module docstring).

    Build one with :meth:`from_reader` (streaming) or :meth:`from_frame` (a tidy click table).
    Use as a context manager, or call :meth:`close`, to remove the bucket files.

    Attributes
    ----------
    image_ids, participant_ids : list of str
        What the integer codes stand for.
    pairs : Pairs
        Every (image, participant) map with its click count, sorted by image then participant.
    n_clicks : int
    all_timed : bool
        Every click has a time ``t`` (then ``max_clicks`` keeps the earliest clicks).
    """

    def __init__(
        self,
        image_ids,
        participant_ids,
        buckets,
        pairs: Pairs,
        n_clicks: int,
        all_timed: bool,
        folder: Path | None = None,
        reread=None,
    ):
        self.image_ids, self.participant_ids = list(image_ids), list(participant_ids)
        self._buckets, self.pairs, self.n_clicks = buckets, pairs, n_clicks
        self.all_timed, self._folder = all_timed, folder
        self._reread = reread  # spill=False: (a fresh ClickReader, number of buckets)
        self.repeats_per_image = np.zeros(len(self.image_ids), dtype=np.int64)  # repeat submissions met
        self._owner = True  # removes the bucket files on close (a restricted view does not)

    # -- building ------------------------------------------------------------------------------
    @classmethod
    def from_reader(
        cls, reader, *, bucket_clicks: int = BUCKET_CLICKS, folder=None, progress: bool = False, spill: bool = True
    ):
        """Read every chunk of ``reader`` into buckets.

        Parameters
        ----------
        reader : ClickReader
        bucket_clicks : int
            Clicks per bucket aimed at; the number of buckets is estimated from the logs'
            sizes on disk.
        folder : path, optional
            Where bucket files go (default: the system's temporary folder).
        progress : bool
            Progress bar over the logs' bytes.
        spill : bool
            False: count the maps only and keep no click; :meth:`buckets` then reads the logs
            again (a fresh reader) keeping only the asked images' clicks, in memory, grouped in
            the same buckets as a spilled store (the same output). For a few sampled images of
            a large log (``clickme reliability``), where spilling every click costs more than a
            second read.
        """

        total_bytes = sum(p.stat().st_size for p in reader.paths)
        n_buckets = max(1, int(np.ceil(total_bytes / _BYTES_PER_CLICK / bucket_clicks)))
        if not spill:
            return cls._count_only(reader, n_buckets, progress)
        tmp = Path(tempfile.mkdtemp(prefix="clickme-buckets-", dir=folder)) if n_buckets > 1 else None
        files = [open(tmp / f"{k}.bin", "wb") for k in range(n_buckets)] if tmp else None
        held, pair_keys, pair_counts = [], [], []
        n_clicks, all_timed = 0, True
        try:
            with bar(total=len(reader.paths), enabled=progress, desc="reading", unit="log") as shown:
                for chunk in reader:
                    records = np.empty(len(chunk), dtype=RECORD)
                    records["image"], records["participant"] = chunk.image, chunk.participant
                    records["x"], records["y"], records["t"] = chunk.x, chunk.y, chunk.t
                    n_clicks += len(records)
                    all_timed &= bool(np.isfinite(chunk.t).all())
                    keys, counts = np.unique(
                        (chunk.image.astype(np.int64) << 32) | chunk.participant, return_counts=True
                    )
                    pair_keys.append(keys)
                    pair_counts.append(counts)
                    if files is None:
                        held.append(records)
                        continue
                    bucket = chunk.image % n_buckets
                    order = np.argsort(bucket, kind="stable")
                    bounds = np.searchsorted(bucket[order], np.arange(n_buckets + 1))
                    for k in range(n_buckets):
                        if bounds[k + 1] > bounds[k]:
                            records[order[bounds[k] : bounds[k + 1]]].tofile(files[k])
                shown.update(len(reader.paths))
        except BaseException:
            if files:
                for fh in files:
                    fh.close()
            if tmp:
                shutil.rmtree(tmp, ignore_errors=True)
            raise
        if files:
            for fh in files:
                fh.close()
        pairs = _reduce_pairs(pair_keys, pair_counts)
        buckets = (
            [tmp / f"{k}.bin" for k in range(n_buckets)]
            if tmp
            else [np.concatenate(held) if held else np.zeros(0, RECORD)]
        )
        store = cls(reader.image_ids, reader.participant_ids, buckets, pairs, n_clicks, all_timed and n_clicks > 0, tmp)
        store.repeats_per_image = reader.repeats_per_image()
        return store

    @classmethod
    def _count_only(cls, reader, n_buckets: int, progress: bool):

        pair_keys, pair_counts = [], []
        n_clicks, all_timed = 0, True
        with bar(total=len(reader.paths), enabled=progress, desc="reading", unit="log") as shown:
            for chunk in reader:
                n_clicks += len(chunk)
                all_timed &= bool(np.isfinite(chunk.t).all())
                keys, counts = np.unique((chunk.image.astype(np.int64) << 32) | chunk.participant, return_counts=True)
                pair_keys.append(keys)
                pair_counts.append(counts)
            shown.update(len(reader.paths))
        fresh = ClickReader(
            reader.paths,
            reader.fmt,
            reader.on_error,
            id_rule=reader.id_rule,
            id_root=reader.id_root,
            catch_threshold=reader.catch_threshold,
            exclude_mobile=reader.exclude_mobile,
            mobile_rule=reader.mobile_rule,
            repeat_submissions=reader.repeat_submissions,
        )
        store = cls(
            reader.image_ids,
            reader.participant_ids,
            [],
            _reduce_pairs(pair_keys, pair_counts),
            n_clicks,
            all_timed and n_clicks > 0,
            reread=(fresh, n_buckets),
        )
        store.repeats_per_image = reader.repeats_per_image()
        return store

    def _reread_buckets(self, wanted: np.ndarray | None):
        """The buckets of a store built with ``spill=False``: the logs read again, only the
        ``wanted`` images' clicks kept (all when None), grouped as :meth:`from_reader` spills."""
        reader, n_buckets = self._reread
        keep = None
        if wanted is not None:
            keep = np.zeros(len(self.image_ids), dtype=bool)
            keep[wanted] = True
        held: list[list] = [[] for _ in range(n_buckets)]
        for chunk in reader:
            rows = np.flatnonzero(keep[chunk.image]) if keep is not None else np.arange(len(chunk))
            if not len(rows):
                continue
            records = np.empty(len(rows), dtype=RECORD)
            records["image"], records["participant"] = chunk.image[rows], chunk.participant[rows]
            records["x"], records["y"], records["t"] = chunk.x[rows], chunk.y[rows], chunk.t[rows]
            bucket = records["image"] % n_buckets
            for k in np.unique(bucket):
                held[k].append(records[bucket == k])
        if len(reader.image_ids) != len(self.image_ids) or len(reader.participant_ids) != len(self.participant_ids):
            raise InputError("the click logs changed while they were read", field="logs")
        for parts in held:
            yield np.concatenate(parts) if parts else np.zeros(0, RECORD)

    @classmethod
    def from_frame(cls, clicks: pd.DataFrame):
        """A store held in memory from a tidy click table (``image_id, participant_id, x, y[, t]``)."""
        missing = {"image_id", "participant_id", "x", "y"} - set(clicks.columns)
        if missing:
            raise InputError(f"click table lacks columns {sorted(missing)}", field="clicks")
        images, image_ids = pd.factorize(clicks["image_id"].astype(str), sort=False)
        participants, participant_ids = pd.factorize(clicks["participant_id"].astype(str), sort=False)
        records = np.empty(len(clicks), dtype=RECORD)
        records["image"], records["participant"] = images, participants
        records["x"] = clicks["x"].to_numpy(dtype=np.float64)
        records["y"] = clicks["y"].to_numpy(dtype=np.float64)
        records["t"] = clicks["t"].to_numpy(dtype=np.float64) if "t" in clicks else np.nan
        keys, counts = np.unique((images.astype(np.int64) << 32) | participants, return_counts=True)
        all_timed = bool(len(records)) and bool(np.isfinite(records["t"]).all())
        return cls(
            list(image_ids), list(participant_ids), [records], _reduce_pairs([keys], [counts]), len(records), all_timed
        )

    # -- reading back --------------------------------------------------------------------------
    def kept_pairs(self, min_clicks: int = 0, max_clicks: int | None = None) -> tuple[Pairs, Pairs]:
        """The maps the ClickMe 2.0 filters keep (click counts after trimming) and those dropped.

        A map is trimmed to its first ``max_clicks`` clicks, then kept when it has more than
        ``min_clicks``.
        """
        counts = self.pairs.n_clicks if max_clicks is None else np.minimum(self.pairs.n_clicks, max_clicks)
        keep = counts > min_clicks
        p = self.pairs
        return (
            Pairs(p.image[keep], p.participant[keep], counts[keep]),
            Pairs(p.image[~keep], p.participant[~keep], counts[~keep]),
        )

    def buckets(self, images: np.ndarray | None = None, pairs: Pairs | None = None, max_clicks: int | None = None):
        """Yield each bucket's clicks sorted by image, participant (and ``t`` with ``max_clicks``
        when every click is timed, else log order), as a structured array of :data:`RECORD`.

        Parameters
        ----------
        images : array of int, optional
            Image codes to keep (default all).
        pairs : Pairs, optional
            Maps to keep (default all); others' clicks are left out.
        max_clicks : int, optional
            Keep each map's first clicks only.
        """
        wanted = None if images is None else np.unique(np.asarray(images, dtype=np.int64))
        pair_keys = None if pairs is None else np.unique((pairs.image.astype(np.int64) << 32) | pairs.participant)
        if self._reread is not None:
            asked = (
                wanted
                if pairs is None
                else np.unique(pairs.image)
                if wanted is None
                else np.intersect1d(wanted, pairs.image)
            )
            buckets = self._reread_buckets(asked)
        else:
            buckets = (b if isinstance(b, np.ndarray) else np.fromfile(b, dtype=RECORD) for b in self._buckets)
        for records in buckets:
            if wanted is not None:
                records = records[np.isin(records["image"], wanted)]
            if pair_keys is not None and len(records):
                keys = (records["image"].astype(np.int64) << 32) | records["participant"]
                # a binary search in the sorted keys: memory set by the bucket, not by the number of maps
                at = np.minimum(np.searchsorted(pair_keys, keys), max(len(pair_keys) - 1, 0))
                records = records[pair_keys[at] == keys] if len(pair_keys) else records[:0]
            if not len(records):
                continue
            by_time = max_clicks is not None and self.all_timed
            sort_keys = ((records["t"],) if by_time else ()) + (records["participant"], records["image"])
            records = records[np.lexsort(sort_keys)]  # stable: ties keep log order
            if max_clicks is not None:
                keys = (records["image"].astype(np.int64) << 32) | records["participant"]
                new = np.concatenate([[True], keys[1:] != keys[:-1]])
                group_start = np.maximum.accumulate(np.where(new, np.arange(len(keys)), 0))
                records = records[np.arange(len(keys)) - group_start < max_clicks]
            yield records

    def restricted(self, pairs: Pairs) -> ClickStore:
        """A view of this store holding only the maps in ``pairs`` (its ``pairs``; the same bucket
        files, which the view leaves in place when closed)."""
        view = ClickStore(
            self.image_ids,
            self.participant_ids,
            self._buckets,
            pairs,
            self.n_clicks,
            self.all_timed,
            None,
            self._reread,
        )
        view.repeats_per_image, view._owner = self.repeats_per_image, False
        return view

    @property
    def n_buckets(self) -> int:
        return self._reread[1] if self._reread is not None else len(self._buckets)

    def close(self) -> None:
        """Remove the bucket files."""
        if self._folder is not None and self._owner:
            shutil.rmtree(self._folder, ignore_errors=True)
            self._folder = None

    def __enter__(self) -> ClickStore:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _reduce_pairs(keys: list[np.ndarray], counts: list[np.ndarray]) -> Pairs:
    if not keys:
        return Pairs(np.zeros(0, np.int32), np.zeros(0, np.int32), np.zeros(0, np.int64))
    all_keys, inverse = np.unique(np.concatenate(keys), return_inverse=True)
    totals = np.bincount(inverse, weights=np.concatenate(counts), minlength=all_keys.size).astype(np.int64)
    return Pairs((all_keys >> 32).astype(np.int32), (all_keys & 0xFFFFFFFF).astype(np.int32), totals)


def group_starts(codes: np.ndarray) -> np.ndarray:
    """Start of every run of equal values in a sorted array, and its end: ``[s0, s1, ..., n]``.

    Examples
    --------
    >>> group_starts(np.array([3, 3, 5, 7, 7, 7]))
    array([0, 2, 3, 6])
    """
    codes = np.asarray(codes)
    if codes.size == 0:
        return np.zeros(1, dtype=np.int64)
    new = np.flatnonzero(codes[1:] != codes[:-1]) + 1
    return np.concatenate([[0], new, [codes.size]]).astype(np.int64)
