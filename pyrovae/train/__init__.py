"""Training: objectives, optimizers, the loop and checkpoints."""
