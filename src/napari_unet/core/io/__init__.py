"""Files: lazy arrays, TIFF/PNG and zarr/OME-Zarr images, atomic writes."""
