"""One rule for repeat submissions: a participant who played one image more than once.

A *submission* is one row of a per-round log (a CSV / Parquet / JSON-lines row holding a round's
``clicks`` or ``x`` / ``y`` lists, a ClickMe 2.0 NPZ trial). Per-click logs (one row per click)
carry no submission boundary: there a participant's clicks on an image are one submission.

Every reader applies the same rule (``repeat_submissions``), in log order, after the trials
excluded by design (catch trials, mobile) are left out:

* ``"merge"`` (default): every submission is kept; a participant's submissions of an image make
  one map (two of 20 and 30 clicks: one participant, 50 clicks). The toolkit's maps have always
  been built so, and the ICLR 2019 game logs hold one round per participant and image, so the
  default leaves their maps as they were.
* ``"first"``: the first submission is kept, later ones are left out and listed as exclusions
  (the ClickMe 2.0 authors' ``filter_duplicate_participants``, which sorts by a ``timestamp``
  column when there is one: sort such a log by time first).
* ``"error"``: a later submission is a malformed row (a located error, or with
  ``on_error="skip"`` left out and listed).

In every mode the repeats met are counted per image (``clickme maps --stats``: ``n_repeats``).
"""

from __future__ import annotations

import numpy as np

from clickme_analysis.errors import InputError

__all__ = ["REPEAT_RULES", "RepeatFilter"]

REPEAT_RULES = ("merge", "first", "error")


class RepeatFilter:
    """Tracks the (image, participant) pairs seen so far and applies the repeat rule.

    Examples
    --------
    >>> f = RepeatFilter("first")
    >>> f.keep(np.array([0, 0, 1]), np.array([5, 5, 5])).tolist()
    [True, False, True]
    >>> f.keep(np.array([1]), np.array([5])).tolist(), f.per_image.tolist()
    ([False], [1, 1])
    """

    def __init__(self, rule: str = "merge"):
        if rule not in REPEAT_RULES:
            raise InputError(f"expected a repeat rule in {REPEAT_RULES}, got {rule!r}", field="repeat_submissions")
        self.rule = rule
        self._seen = np.zeros(0, dtype=np.int64)  # sorted (image << 32 | participant) keys
        self.per_image = np.zeros(0, dtype=np.int64)  # repeats met, by image code

    def keep(self, images, participants, rows=None, problems=None, *, image_ids=None, participant_ids=None):
        """Which of these submissions (image and participant codes, in log order) are kept.

        ``rows`` and ``problems`` (a reader's problem list) receive each repeat left out
        ("first": an exclusion by design; "error": a malformed row); ``image_ids`` and
        ``participant_ids`` name them in the message.
        """
        images = np.asarray(images, dtype=np.int64)
        keys = (images << 32) | np.asarray(participants, dtype=np.int64)
        if not len(keys):
            return np.ones(0, dtype=bool)
        _, first = np.unique(keys, return_index=True)
        repeat = np.ones(len(keys), dtype=bool)
        repeat[first] = False
        at = np.minimum(np.searchsorted(self._seen, keys), max(len(self._seen) - 1, 0))
        if len(self._seen):
            repeat |= self._seen[at] == keys
        self._seen = np.union1d(self._seen, keys)
        if repeat.any():
            counts = np.bincount(images[repeat])
            if len(counts) > len(self.per_image):
                self.per_image = np.concatenate([self.per_image, np.zeros(len(counts) - len(self.per_image), np.int64)])
            self.per_image[: len(counts)] += counts
        if self.rule == "merge":
            return np.ones(len(keys), dtype=bool)
        if problems is not None and rows is not None:
            for k in np.flatnonzero(repeat):
                who = (
                    f"image {image_ids[images[k]]!r} by participant {participant_ids[keys[k] & 0xFFFFFFFF]!r}"
                    if image_ids is not None and participant_ids is not None
                    else "this image by this participant"
                )
                if self.rule == "first":
                    problems.bad(
                        rows[k],
                        "submission",
                        f"a repeat submission of {who} (excluded: --repeat-submissions first keeps the first)",
                        excluded=True,
                    )
                else:
                    problems.bad(
                        rows[k],
                        "participant_id",
                        f"expected one submission of {who}, got a repeat (--repeat-submissions error)",
                    )
        return ~repeat

    def drop(self, images, participants, counts, rows, clicks, *, problems, reader):
        """Apply :meth:`keep` to per-round rows and their clicks.

        ``counts`` are the rows' click counts and ``clicks`` a tuple of per-click arrays (in row
        order); returns the kept ``(images, participants, counts, clicks)``.
        """
        kept = self.keep(
            images, participants, rows, problems, image_ids=reader.image_ids, participant_ids=reader.participant_ids
        )
        if kept.all():
            return images, participants, counts, clicks
        by_click = np.repeat(kept, counts)
        return images[kept], participants[kept], counts[kept], tuple(c[by_click] for c in clicks)

    def counts_for(self, n_images: int) -> np.ndarray:
        """Repeats met per image code, for ``n_images`` images."""
        out = np.zeros(n_images, dtype=np.int64)
        out[: min(n_images, len(self.per_image))] = self.per_image[:n_images]
        return out
