"""``python -m clickme_app ...``: the ``clickme`` command (for ``torchrun -m clickme_app train ...``)."""

import sys

from clickme_app.cli import main

sys.exit(main())
