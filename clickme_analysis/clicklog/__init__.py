"""Read ClickMe click logs, validating every row, fast enough for the whole ClickMe data set.

Accepted files (format from the suffix, or ``fmt``):

* CSV / TSV (``.csv``, ``.tsv``; read with pyarrow's CSV reader, in blocks), Parquet
  (``.parquet``) and JSON lines (``.jsonl``, ``.ndjson``):

  - one row per click: ``image_id, participant_id, x, y`` and optional ``t`` (ms), or
  - one row per round: ``image_id, participant_id`` and either ``clicks``, a list of
    ``(x, y)`` or ``(x, y, t)`` points, or ``x`` and ``y`` (and optional ``t``) lists of equal
    length. In CSV a ``clicks`` cell is text: the ClickMe 2.0 form ``{(12,30),(14,33)}``
    (``{}`` is a round without clicks; points keep their written order), or a JSON / Python
    list such as ``[(10, 20), (11, 22)]``.

  Column aliases: ``image_path``/``file_pointer``/``image`` -> ``image_id``;
  ``user_id``/``participant``/``subject`` -> ``participant_id``; ``time`` -> ``t``.
  Blank lines are ignored.
* ClickMe 2.0 NPZ (``.npz``): arrays ``file_pointer, clickmap_x, clickmap_y, user_id``
  (object arrays, one array per trial) and optional ``user_catch_trial`` (the user's catch-trial
  *accuracy* in [0, 1]: trials whose user scored below ``catch_threshold``, default 0.95 as the
  authors, are excluded and listed) and ``is_mobile`` (per-trial arrays, empty = not mobile;
  ``exclude_mobile=True`` leaves mobile trials out, ``mobile_rule`` says which values count).
  Object arrays are rebuilt by a restricted unpickler (:mod:`clickme_analysis.npz_log`).

A participant's repeat submissions of an image follow one rule in every reader
(``repeat_submissions``, :mod:`clickme_analysis.submissions`; default ``"merge"``).

Image ids are made from the log's image entries by the one id rule of
:mod:`clickme_analysis.ids` (default ``"stem"``: ``imagenet/val/chelsea.JPEG`` -> ``chelsea``);
two entries that give one id are refused, not merged.

Line numbers are 1-based file lines for CSV/TSV (header = line 1) and JSON lines, and record
numbers for Parquet and NPZ. A malformed row raises :class:`InputError` naming the file, line,
field and what was expected, or with ``on_error="skip"`` is left out and listed in
``ClickLog.skipped``: nothing is dropped silently.
"""

from clickme_analysis.clicklog.chunks import ClickChunk, ClickLog
from clickme_analysis.clicklog.reader import ClickReader, chunks_to_frame, read_clicks

__all__ = ["ClickReader", "ClickLog", "ClickChunk", "read_clicks", "chunks_to_frame"]
