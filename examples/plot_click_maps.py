"""
Click log to ClickMe maps
=========================

Simulated ClickMe players paint along mouse paths toward the object parts of the photographs
scikit-image ships; each participant's clicks become 14x14 px bubbles on a 256x256 grid, and an
image's map is the mean over its participants blurred with the paper's 49x49 box (paper Fig. 2A).
A bottom-up saliency stand-in is drawn beside it, as the real study drew Salicon maps.
"""

from clickme_analysis.maps import build_maps
from clickme_analysis.synthetic import demo_images, saliency_standin, simulate_clicks
from reports.panels import example_maps

images, labels, parts = demo_images(per_category=2)
clicks = simulate_clicks(parts, seed=0)
print(clicks.head())
print(f"{len(clicks)} clicks by {clicks['participant_id'].nunique()} simulated players on {len(images)} images")

# %%
# One map per image: paint every participant's bubbles, average, blur with a 49x49 box.
maps, per_participant = build_maps(clicks, blur="box", blur_size=49)
saliency = {image_id: saliency_standin(images[image_id]) for image_id in maps}
titles = dict(zip(labels["image_id"], labels["label"]))
fig = example_maps(images, {"ClickMe": maps, "saliency": saliency}, titles=titles)
