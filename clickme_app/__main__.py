"""``python -m clickme_app ...``: the ``clickme`` command (for ``torchrun -m clickme_app train ...``)."""

import sys

from clickme_app.cli import main

if __name__ == "__main__":  # importing the module (the API reference's walk does) runs nothing
    sys.exit(main())
