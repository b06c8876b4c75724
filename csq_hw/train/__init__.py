"""Training: the config, the budget term, the epoch loop, the schedule, the hand-over to the exact model, and train_run
that writes a run directory.
"""
