"""Projects: a folder keeping a data set across days and every training round.

A project holds its images (by relative path, or as OME-Zarr copies), the labels of each
image (chunked zarr, by content hash), one model file per round (never overwritten) and a
small versioned JSON manifest (:mod:`.manifest`), written atomically after every round.
See ``docs/projects.md``.
"""

from .checks import ProjectError
from .folder import Project, ProjectImage
from .manifest import ImageEntry, LabelsRef, ProjectManifest, RoundLabels, RoundRecord
from .stores import labels_hash

__all__ = [
    "ImageEntry",
    "LabelsRef",
    "Project",
    "ProjectError",
    "ProjectImage",
    "ProjectManifest",
    "RoundLabels",
    "RoundRecord",
    "labels_hash",
]
