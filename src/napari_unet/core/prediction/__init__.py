"""Prediction: the engine, tiling, blocks, stitching, instances, object scale, TTA, clusters."""
