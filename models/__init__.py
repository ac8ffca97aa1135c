"""GALA attention, ResNet-50 / SE / GALA variants, ClickMe loss, training, scoring and SmoothGrad (PyTorch)."""
