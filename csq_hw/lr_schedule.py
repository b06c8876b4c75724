"""Where each epoch sits on its learning-rate cosine (``trainer.lr_at`` gives the rate at a step)."""

from __future__ import annotations

from .config import TrainConfig

__all__ = ["LrSchedule"]


class LrSchedule:
    """One cosine over all epochs (paper-faithful, QAT), or with a fresh fine-tune (``fresh``) one over the search
    epochs and a new one from ``finetune_lr`` over the fine-tune."""

    def __init__(self, cfg: TrainConfig, steps_per_epoch: int, fresh: bool) -> None:
        self.cfg, self.spe, self.fresh = cfg, steps_per_epoch, fresh and 0 < cfg.ticket < cfg.epochs

    def at(self, epoch: int) -> tuple[int, int, float]:
        """(steps done on this cosine, its total steps, its base learning rate) at the start of ``epoch``."""
        cfg, spe = self.cfg, self.spe
        if not self.fresh:
            return epoch * spe, cfg.epochs * spe, cfg.lr
        if epoch < cfg.ticket:
            return epoch * spe, cfg.ticket * spe, cfg.lr
        return (epoch - cfg.ticket) * spe, (cfg.epochs - cfg.ticket) * spe, cfg.finetune_learning_rate
