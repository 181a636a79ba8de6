"""Robustness curves: segmentation quality against natural perturbations and attacks."""
