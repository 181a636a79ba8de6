"""Images and labels: layout, normalization, label sources, lazy units, patches, quick labels."""
