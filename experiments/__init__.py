"""Rapid-categorization experiment: trial design (pure Python) and the PsychoPy runner."""
