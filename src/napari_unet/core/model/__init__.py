"""The U-Net, trained models, model files and bioimage.io packages (with shared checks)."""

# exported bioimage.io packages name their architecture napari_unet.core.model.UNet
from .unet import UNet

__all__ = ["UNet"]
