"""napari-unet: train a U-Net from painted strokes in napari.

The engine lives in :mod:`napari_unet.core` (no napari, no Qt); the napari widgets in
:mod:`napari_unet.widgets`. Importing this package imports neither, so tools that only
need the manifest stay fast.
"""

import os

# PyTorch's CPU threads wait for each other between operations. By default they spin
# (OpenMP's ACTIVE policy), which on a busy machine (a laptop with other work, napari's own
# drawing) burns the cores the other thread needs: a 2-core machine with two busy processes
# took 0.7-2.5 s per training step with spinning threads and 0.26-0.54 s with PASSIVE
# (sleeping) ones. On a quiet machine sleeping costs about a third (141-166 ms a step
# against 109-117 ms); OMP_WAIT_POLICY=ACTIVE in the environment restores spinning. Read
# when PyTorch loads, so set before anything here imports it; a value the user set is kept.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

__version__ = "0.1.0"
