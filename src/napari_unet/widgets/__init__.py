"""napari widgets: thin Qt/magicgui views that translate layers into core calls."""
