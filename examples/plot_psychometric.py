"""
Psychometric curves of a simulated session, with the mixed model
=================================================================

Simulated observers categorise images revealed at log-spaced levels: those who see
ClickMe-revealed images recognise them at lower levels than those who see saliency-revealed
ones (paper Fig. 2B). The analysis is the one ``clickme experiment analyze`` runs: accuracy per
level, psychometric fits with bootstrap bands, per-level permutation tests (Holm), and a
mixed-effects logistic regression with crossed participant and image effects.
"""

import numpy as np
import pandas as pd

from clickme_analysis.psychophysics.analysis import analyze
from experiments.observer import demo_observers
from reports.figures import accuracy_curves
from stimuli.build import reveal_levels

observers = demo_observers()  # clickme: threshold 3 % revealed; saliency: 20 %
levels = reveal_levels(6)
rng = np.random.default_rng(0)
rows = []
for k in range(16):
    group = ("clickme", "saliency")[k % 2]
    for image in range(12):
        target = image % 2 == 0
        for level in levels:
            says_target, rt = observers[group].respond(target, level, rng)
            rows.append(
                {
                    "participant": f"P{k:02d}",
                    "group": group,
                    "map_source": group,
                    "level": level,
                    "image_id": f"im{image:02d}",
                    "target": target,
                    "responded_target": says_target,
                    "correct": says_target == target,
                    "rt": rt,
                    "timed_out": False,
                }
            )
trials = pd.DataFrame(rows)
print(f"{len(trials)} trials, {trials['participant'].nunique()} participants")

# %%
# The statistics of ``clickme experiment analyze`` (fewer resamples than its defaults).
results = analyze(trials, n_permutations=1000, n_boot=50, seed=0)
print(results["mixed_model"].iloc[:, :9].round(3).to_string(index=False))

# %%
# Accuracy per group and level with the fitted curves and the levels that differ after Holm.
fig = accuracy_curves(results["accuracy"], results["psychometric"], results["level_tests"])
