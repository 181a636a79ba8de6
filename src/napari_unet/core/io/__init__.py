"""Reading and writing: lazy arrays, TIFF/PNG/zarr/OME-Zarr images, result sinks, atomic writes."""
