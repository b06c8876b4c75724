"""Where each epoch sits on its learning-rate cosine (``trainer.lr_at`` gives the rate at a step)."""

from __future__ import annotations

from csq_hw.train.config import TrainConfig

__all__ = ["LrSchedule"]


class LrSchedule:
    """One cosine over all epochs (paper-faithful, QAT), or with a fresh fine-tune (``fresh``) one over the search
    epochs and a new one from ``finetune_lr`` over the fine-tune."""

    def __init__(self, cfg: TrainConfig, steps_per_epoch: int, fresh: bool) -> None:
        self.cfg, self.spe, self.fresh = cfg, steps_per_epoch, fresh and 0 < cfg.train.ticket < cfg.train.epochs

    def at(self, epoch: int) -> tuple[int, int, float]:
        """(steps done on this cosine, its total steps, its base learning rate) at the start of ``epoch``."""
        cfg, spe = self.cfg, self.spe
        if not self.fresh:
            return epoch * spe, cfg.train.epochs * spe, cfg.train.lr
        if epoch < cfg.train.ticket:
            return epoch * spe, cfg.train.ticket * spe, cfg.train.lr
        return (
            (epoch - cfg.train.ticket) * spe,
            (cfg.train.epochs - cfg.train.ticket) * spe,
            cfg.train.finetune_learning_rate,
        )
