"""Map sources: image id -> attention map, read lazily, from every form maps come in.

:func:`open_maps` opens any of them as one read-only mapping image id -> float32 (H, W) map
(:class:`MapSource`), reading one map per access, so 200k maps never need to fit in memory:

=========================================  ==========================================================
source                                     form
=========================================  ==========================================================
``.npz`` (:class:`MapArchive`)             ``clickme-map-archive/1``: a zip of ``.npy`` members
                                           (``format``, ``image_ids``, ``labels``,
                                           ``participant_counts``, ``maps/<i>`` float32);
                                           ``/2`` the same with ``delta-ratio`` maps (below)
``.h5`` / ``.hdf5`` (:class:`MapStore`)    ``clickme-map-store/1``: one chunked, compressed HDF5
                                           dataset of all maps (below), for ClickMe-size archives
``.h5`` with ``clickmaps/``                the ClickMe 2.0 authors' HDF5 (:class:`ClickMe2Maps`):
                                           one dataset per image ``clickmaps/<category_file>`` and
                                           its click count in ``click_counts/<category_file>``
a folder (:class:`MapFolder`)              one grayscale PNG / JPEG / NPY file per image, the id the
                                           file's :func:`~clickme_analysis.ids.image_id` (SALICON
                                           ``maps/``, MIT300 / CAT2000 fixation maps)
=========================================  ==========================================================

The HDF5 store (``clickme-map-store/1``) holds ``image_ids``, ``labels`` (UTF-8 strings),
``participant_counts`` (int64) and ``maps`` (N, H, W), one chunk per map, HDF5's shuffle and
deflate filters. Its ``encoding`` attribute says how ``maps`` holds the maps, both lossless:

* ``"delta-ratio"``: maps that are exact ratios of integers (box-blurred or unblurred click
  counts, raw or normalised by sum or maximum, what ``clickme maps`` makes by default): ``maps``
  holds the integer numerators, differenced along both axes (``int32``), and ``denominators``
  (N,) float64; map i is ``float32(cumsum(cumsum(maps[i], 0), 1) / denominators[i])``. Smooth
  blurred maps difference to mostly small numbers: about 20 KB a 256x256 map instead of about
  85 KB as deflated float32.
* ``"float32"``: ``maps`` holds float32 maps (other kernels, z-scored maps).

An NPZ archive of ``delta-ratio`` maps (``clickme-map-archive/2``, what ``clickme maps --out
x.npz`` writes for exact maps, as small and as fast to write as the store) adds the members
``encoding`` (``"delta-ratio"``) and ``denominators`` (N,) float64, and each ``maps/<i>`` is
the map's int32 differences as (4, H, W) uint8 byte planes (plane k holds byte k of every
little-endian value, the store's shuffled chunk); maps of several sizes may share an archive.
``clickme-map-archive/1`` archives (float32 maps) are written for other maps and by
:func:`save_maps`, and read as before.

Writers (:class:`MapWriter`, :func:`save_maps`) write one map at a time to a temporary file that
replaces the target at the end, so a crash never leaves half an archive.
"""

from clickme_analysis.archive.read import (
    FORMAT,
    FORMAT_RATIO,
    STORE_FORMAT,
    ClickMe2Maps,
    MapArchive,
    MapFolder,
    MapSource,
    MapStore,
    map_format,
    open_maps,
    read_map_file,
)
from clickme_analysis.archive.write import MapWriter, save_maps, write_clickme2_hdf5

__all__ = [
    "FORMAT",
    "FORMAT_RATIO",
    "STORE_FORMAT",
    "MapSource",
    "MapArchive",
    "MapStore",
    "ClickMe2Maps",
    "MapFolder",
    "MapWriter",
    "open_maps",
    "save_maps",
    "write_clickme2_hdf5",
    "map_format",
    "read_map_file",
]
