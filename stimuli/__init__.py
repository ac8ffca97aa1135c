"""Psychophysics stimuli: phase scrambling, stochastic flood-fill reveal orders, log-spaced reveal sets."""
