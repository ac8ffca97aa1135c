"""One rule for turning file paths into image ids, and one check that two id sets match.

Every reader of the toolkit names an image by the id this module gives its path or its log
entry, so maps, images, labels and predictions join on the same key:

===============  ========================================================  ==============================
rule             id                                                        ``imagenet/val/chelsea.JPEG``
===============  ========================================================  ==============================
``"stem"``       the last path part without its image suffix               ``chelsea``
                 (default: folder datasets, SALICON, map folders)
``"relative"``   the path relative to ``root`` (when it lies under it),    ``val/chelsea`` (root
                 ``/``-separated, without its image suffix                 ``imagenet``)
``"path"``       the path as written, ``/``-separated                      ``imagenet/val/chelsea.JPEG``
===============  ========================================================  ==============================

Only image and map suffixes (:data:`IMAGE_SUFFIXES`, any case) are removed, so an id such as
``"trial.1"`` is kept whole. The rule is applied to text, never to the file system. Readers
that turn several distinct paths into one id (``a/cat.png`` and ``b/cat.png`` under ``"stem"``)
refuse them rather than merging two images (:func:`check_unique`).
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable

from clickme_analysis.errors import InputError

__all__ = ["ID_RULES", "IMAGE_SUFFIXES", "IdMatchWarning", "image_id", "image_ids", "match_ids", "check_unique"]

ID_RULES = ("stem", "relative", "path")
#: suffixes removed by the "stem" and "relative" rules (compared in lower case)
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm", ".pgm", ".npy")


class IdMatchWarning(UserWarning):
    """Only some ids of one side have a partner on the other (counts in the message)."""


def _posix(text: str) -> str:
    text = text.strip().replace("\\", "/")
    while text.startswith("./"):
        text = text[2:]
    return text


def _drop_suffix(text: str) -> str:
    dot = text.rfind(".")
    if dot > text.rfind("/") + 1 and text[dot:].lower() in IMAGE_SUFFIXES:  # not a hidden name
        return text[:dot]
    return text


def image_id(path, *, rule: str = "stem", root=None) -> str:
    """The image id of a path (or of a log's image entry) under one of :data:`ID_RULES`.

    Parameters
    ----------
    path : str or os.PathLike
        A file path or the image entry of a click log.
    rule : {"stem", "relative", "path"}
        See the module docstring; default ``"stem"``.
    root : str or os.PathLike, optional
        For ``"relative"``: the folder ids are relative to (ignored where the path does not
        lie under it).

    Returns
    -------
    str

    Examples
    --------
    >>> image_id("imagenet/val/chelsea.JPEG")
    'chelsea'
    >>> image_id("imagenet/val/chelsea.JPEG", rule="relative", root="imagenet")
    'val/chelsea'
    >>> image_id("imagenet\\\\val\\\\chelsea.JPEG", rule="path")
    'imagenet/val/chelsea.JPEG'
    >>> image_id("trial.1")
    'trial.1'
    """
    text = _posix(str(path))
    if not text:
        raise InputError("expected a non-empty image path or id, got ''", field="image_id")
    if rule == "path":
        return text
    if rule == "stem":
        return _drop_suffix(text.rstrip("/").rsplit("/", 1)[-1])
    if rule == "relative":
        if root is not None:
            base = _posix(str(root)).rstrip("/")
            if base not in ("", ".") and text.startswith(base + "/") and len(text) > len(base) + 1:
                text = text[len(base) + 1 :]
        return _drop_suffix(text)
    raise InputError(f"expected an id rule in {ID_RULES}, got {rule!r}", field="id_rule")


def image_ids(paths: Iterable, *, rule: str = "stem", root=None, what: str = "images") -> list[str]:
    """:func:`image_id` of every path, refusing two paths that give one id.

    Examples
    --------
    >>> image_ids(["a/cat.png", "a/dog.png"])
    ['cat', 'dog']
    >>> image_ids(["a/cat.png", "b/cat.png"])
    Traceback (most recent call last):
    ...
    clickme_analysis.errors.InputError: field 'id_rule': 2 images give the id 'cat' under the 'stem' rule
    ('a/cat.png', 'b/cat.png'): use the 'relative' or 'path' id rule
    """
    paths = [str(p) for p in paths]
    ids = [image_id(p, rule=rule, root=root) for p in paths]
    check_unique(paths, ids, rule=rule, what=what)
    return ids


def check_unique(raw: Iterable[str], ids: Iterable[str], *, rule: str, what: str = "images", path=None) -> None:
    """Raise :class:`InputError` where distinct ``raw`` entries share an id.

    ``raw`` and ``ids`` are parallel sequences (repeats of one raw entry are fine).
    """
    first: dict[str, str] = {}
    for original, key in zip(raw, ids):
        seen = first.setdefault(key, original)
        if seen != original:
            others = "'relative' or 'path'" if rule == "stem" else "'path'"
            raise InputError(
                f"2 {what} give the id {key!r} under the {rule!r} rule ({seen!r}, "
                f"{original!r}): use the {others} id rule",
                path=path,
                field="id_rule",
            )


def _examples(ids, n: int = 3) -> str:
    shown = [repr(i) for i in list(ids)[:n]]
    return ", ".join(shown) + (", ..." if len(ids) > n else "")


def match_ids(
    map_ids: Iterable, image_ids: Iterable, *, what: str = "maps", other: str = "images", warn: bool = True
) -> list[str]:
    """The ids present on both sides, in the order of ``image_ids``; no silent mismatch.

    Parameters
    ----------
    map_ids : iterable of str
        Ids of one side (a map archive's keys, say).
    image_ids : iterable of str
        Ids of the other side (the images to train on or to score), in the order wanted.
    what, other : str
        Names of the two sides, for messages.
    warn : bool
        Warn (:class:`IdMatchWarning`) when only some ids match, with the counts.

    Returns
    -------
    list of str
        The matched ids.

    Raises
    ------
    InputError
        When no id matches (or a side is empty); the message shows a few ids of each side, and
        says when they would match under the ``"stem"`` rule.

    Examples
    --------
    >>> match_ids(["cat", "dog"], ["dog", "cat", "owl"], warn=False)
    ['dog', 'cat']
    >>> match_ids(["val/cat.JPEG"], ["cat"])
    Traceback (most recent call last):
    ...
    clickme_analysis.errors.InputError: field 'image_id': none of 1 maps ids matches one of 1 images ids
    (maps: 'val/cat.JPEG'; images: 'cat'); they match under the 'stem' id rule
    (clickme_analysis.ids.image_id(path, rule='stem'))
    """
    map_ids = [str(i) for i in map_ids]
    image_ids = [str(i) for i in image_ids]
    if not map_ids or not image_ids:
        empty = what if not map_ids else other
        raise InputError(
            f"expected some {empty} ids, got none ({len(map_ids)} {what}, {len(image_ids)} {other})", field="image_id"
        )
    known = set(map_ids)
    matched = [i for i in image_ids if i in known]
    if not matched:
        hint = ""
        stems = {image_id(i) for i in map_ids}
        if any(image_id(i) in stems for i in image_ids):
            hint = "; they match under the 'stem' id rule (clickme_analysis.ids.image_id(path, rule='stem'))"
        raise InputError(
            f"none of {len(map_ids)} {what} ids matches one of {len(image_ids)} "
            f"{other} ids ({what}: {_examples(map_ids)}; {other}: "
            f"{_examples(image_ids)}){hint}",
            field="image_id",
        )
    if warn and (len(matched) < len(image_ids) or len(matched) < len(known)):
        unmatched_images = [i for i in image_ids if i not in known]
        matched_set = set(matched)
        unmatched_maps = [i for i in map_ids if i not in matched_set]
        message = f"{len(matched)} of {len(image_ids)} {other} have one of the {len(known)} {what}"
        if unmatched_images:
            message += f"; {len(unmatched_images)} {other} without: {_examples(unmatched_images)}"
        if unmatched_maps:
            message += f"; {len(unmatched_maps)} {what} unused: {_examples(unmatched_maps)}"
        warnings.warn(message, IdMatchWarning, stacklevel=2)
    return matched
