"""
Stochastic flood-fill reveal levels
===================================

A stimulus reveals an image's most important pixels, grown from a seed by a stochastic
flood-fill that follows the map, at log-spaced levels of the reveal budget; the rest of the image
is phase-scrambled (paper Sec. 3). Each row is one map source revealing the same number of pixels.
"""

import matplotlib.pyplot as plt
import numpy as np

from clickme_analysis.maps import build_maps
from clickme_analysis.synthetic import demo_images, saliency_standin, simulate_clicks
from reports.panels import contact_sheet
from stimuli.build import StimulusConfig, image_seed, reveal_levels, reveal_stimuli
from stimuli.reveal import reveal_budget, reveal_order

images, labels, parts = demo_images(per_category=1)
image_id = labels["image_id"].iloc[0]
clickme_maps, _ = build_maps(simulate_clicks({image_id: parts[image_id]}, seed=0))
maps = {"clickme": clickme_maps[image_id], "saliency": saliency_standin(images[image_id])}
print("levels (% of the budget):", np.round(reveal_levels(6), 1))

# %%
# The flood-fill is a race of exponential clocks: each seed grows another region, always from
# the map's peak outward. Colour = the step at which a pixel is revealed (dark: early).
budget = reveal_budget(maps["clickme"])
_, axes = plt.subplots(1, 4, figsize=(8, 2.2), layout="constrained")
axes[0].imshow(maps["clickme"], cmap="magma")
axes[0].set_title("ClickMe map")
for ax, seed in zip(axes[1:], (0, 1, 2)):
    order = reveal_order(maps["clickme"], budget, seed=seed)
    rank = np.full(maps["clickme"].size, np.nan)
    rank[order] = np.arange(order.size)
    ax.imshow(rank.reshape(maps["clickme"].shape), cmap="viridis")
    ax.set_title(f"reveal order, seed {seed}")
for ax in axes:
    ax.set_axis_off()

# %%
# Six log-spaced levels and the intact image, for the ClickMe map and the saliency stand-in.
config = StimulusConfig(n_levels=6)
stimuli = reveal_stimuli(images[image_id], maps, config, seed=image_seed(0, image_id))
sheet: dict = {}
for stimulus in stimuli:
    sheet.setdefault(stimulus["map_source"], {})[stimulus["level"]] = stimulus["stimulus"]
fig = contact_sheet(sheet, title=image_id)
