"""Training: trainer, training data, augmentation, losses, held-out scores, adversarial batches."""
