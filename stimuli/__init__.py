"""Psychophysics stimuli: phase scrambling, stochastic flood-fill reveal orders, log-spaced reveal sets."""

__distribution__ = "clickme-toolkit"  # checked by clickme_analysis.install_check
