"""Rapid-categorization experiment: trial design (pure Python) and the PsychoPy runner."""

__distribution__ = "clickme-toolkit"  # checked by clickme_analysis.install_check
