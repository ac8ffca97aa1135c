"""GALA attention, ResNet-50 / SE / GALA variants, ClickMe loss, training, scoring and SmoothGrad (PyTorch)."""

__distribution__ = "clickme-toolkit"  # checked by clickme_analysis.install_check
