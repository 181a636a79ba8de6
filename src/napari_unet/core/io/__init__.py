"""Reading and writing: lazy arrays, TIFF/PNG and zarr/OME-Zarr images, result sinks, atomic writes."""
