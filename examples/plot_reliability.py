"""
Inter-rater reliability and its null
====================================

For each image two random participants are drawn, their maps blurred and Spearman's rho taken
over pixels; the null pairs a participant of one image with one of another image (paper Sec. 2:
0.58 against 0.18 on ImageNet ClickMe). Here the players are simulated, so the values describe
the simulation, not people.
"""

from clickme_analysis.reliability import inter_rater_reliability, summarize_reliability
from clickme_analysis.synthetic import demo_images, simulate_clicks
from reports.figures import reliability_null

_, _, parts = demo_images(per_category=6)
clicks = simulate_clicks(parts, participants=(8, 14), seed=0)
per_image = inter_rater_reliability(clicks, n_images=None, seed=0)
print(summarize_reliability(per_image, n_boot=500, seed=0))

# %%
# Human pairs against the null, means marked.
fig = reliability_null(per_image)
