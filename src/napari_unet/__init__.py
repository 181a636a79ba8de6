"""napari-unet: train a U-Net from painted strokes in napari.

The engine lives in :mod:`napari_unet.core` (no napari, no Qt); the napari widgets in
:mod:`napari_unet.widgets`. Importing this package imports neither, so tools that only
need the manifest stay fast.
"""

__version__ = "0.1.0"
