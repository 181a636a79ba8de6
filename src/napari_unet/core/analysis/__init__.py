"""Analysis of segmentations: per-object measurements in physical units, and their CSV."""
