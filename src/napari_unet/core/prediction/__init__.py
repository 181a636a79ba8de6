"""Prediction: tiling, blocks, sinks, stitching, instances, object scale, TTA, clusters."""
