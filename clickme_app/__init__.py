"""The ``clickme`` application shell: the one console command over every package's subcommands.

It sits above every package of the toolkit (``clickme_analysis``, ``stimuli``, ``experiments``,
``models``, ``reports``) and is imported by none of them: :mod:`clickme_app.cli` gathers the
subcommands each package registers, :mod:`clickme_app.demo` runs the whole pipeline
(``clickme demo``). ``python -m clickme_app`` is the ``clickme`` command (e.g. under ``torchrun``).
"""
