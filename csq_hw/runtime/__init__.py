"""Processes, files and locks the trainer and sweeps run on: atomic writes, the run-directory lock, checkpoints,
torch.distributed helpers.
"""
