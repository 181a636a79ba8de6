"""The napari-unet engine: model, data, training, prediction, attacks and model files.

Imports neither napari nor Qt (``tests/test_core_isolation.py`` proves it), so it runs
in scripts, on clusters and in the command line.
"""

from .data.images import Normalization, channels_first
from .data.label_sources import LabelSource, SourceKind, merge_label_sources
from .data.labels import ClassInfo
from .errors import ModelFileError, UserInputError
from .metrics import dice_iou_per_class, instance_f1, split_merge_scores
from .model.model_file import load_model, save_model
from .model.trained_model import TrainedModel
from .model.unet import PRESETS, UNet, UNetConfig, count_parameters
from .prediction.boundary_instances import boundary_instances
from .prediction.engine import PredictionConfig, PredictionProgress, PredictionResult, predict
from .prediction.job import PredictionJob, ResultsTo, RunStarted
from .prediction.job import run as run_job
from .stopping import StopFlag, run_to_completion
from .training.trainer import (
    BestModelUpdated,
    ModelSnapshot,
    Trainer,
    TrainingConfig,
    TrainingResult,
    TrainingStarted,
    TrainingStep,
    ValidationScores,
    train,
)

__all__ = [
    "BestModelUpdated",
    "ClassInfo",
    "LabelSource",
    "ModelFileError",
    "ModelSnapshot",
    "Normalization",
    "PRESETS",
    "PredictionConfig",
    "PredictionJob",
    "PredictionProgress",
    "PredictionResult",
    "ResultsTo",
    "RunStarted",
    "SourceKind",
    "StopFlag",
    "TrainedModel",
    "Trainer",
    "TrainingConfig",
    "TrainingResult",
    "TrainingStarted",
    "TrainingStep",
    "UNet",
    "UNetConfig",
    "UserInputError",
    "ValidationScores",
    "boundary_instances",
    "channels_first",
    "count_parameters",
    "dice_iou_per_class",
    "instance_f1",
    "load_model",
    "merge_label_sources",
    "predict",
    "run_job",
    "run_to_completion",
    "save_model",
    "split_merge_scores",
    "train",
]
