"""What every task's LightningModule shares: the backbone from config, AdamW with a warmup schedule,
the training step, the val/test dispatch, the predictions kept for reports, the RNG state in checkpoints
(exact resume) and the export to a Hugging Face directory. A task's module adds its loss, evaluation
step and metrics (src/tasks/<task>/module.py)."""

from __future__ import annotations

from typing import Any, ClassVar

import lightning as L
import torch

from src.models.backbone import freeze_encoder, load_model
from src.models.compile import compile_backbone
from src.models.config import EncoderConfig
from src.models.optim import clip_gradients, configure_optimizers
from src.training.seeding import rng_state, set_rng_state
from src.utils.schema import build

MODEL_INPUTS = ("input_ids", "attention_mask", "token_type_ids")  # batch keys the backbone reads


class EncoderModule(L.LightningModule):
    """Base class; a task's subclass sets `task_name` and `auto_class` (an ``AutoModelFor*``).

    Args:
        model: the `model` config group as a plain dict (pretrained, optimizer, scheduler, ...).
        label_names: output names in id order; they become the exported model's id2label. None for heads
            without a label set (multiple choice scores choices, question answering scores positions).
        class_weights: optional per-class loss weights (for imbalanced labels).
        backbone_config: the HF config dict; set in checkpoints so loading needs no pretrained download.
        steps_per_epoch: optimizer steps of one epoch on this rank (sizes the LR schedule); train.py passes it.
    """

    task_name: ClassVar[str]  # stored in checkpoints: eval.py refuses a checkpoint of another task
    auto_class: ClassVar[type]

    def __init__(
        self,
        model: dict,
        label_names: list[str] | None = None,
        class_weights: list[float] | None = None,
        backbone_config: dict | None = None,
        steps_per_epoch: int | None = None,
    ) -> None:
        super().__init__()
        self.save_hyperparameters(logger=False)  # plain containers only: checkpoints load with weights_only=True
        self.settings = build(EncoderConfig, model, "model")  # the model group, typed (checked again: a checkpoint's)
        self.model = load_model(
            self.auto_class,
            self.settings.pretrained,
            label_names=label_names,
            config_dict=backbone_config,
            config_overrides=self.config_overrides(),
            trust_remote_code=self.settings.trust_remote_code,
            revision=self.settings.revision,
            attn_implementation=self.settings.attn_implementation,
        )
        self.hparams["backbone_config"] = self.model.config.to_dict()
        if self.settings.freeze_backbone:
            freeze_encoder(self.model)
        if self.settings.gradient_checkpointing:
            self.model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
        compile_backbone(self.model, self.settings.compile)
        # a plain attribute, not a buffer: FSDP mixed precision would cast a buffer to bf16
        self.class_weights = torch.tensor(class_weights, dtype=torch.float) if class_weights else None
        self.predictions: dict[str, dict[str, torch.Tensor]] = {}  # last epoch's, per stage (for reports)
        self.make_metrics(label_names)

    # ------------------------------------------------------------------ task hooks
    def config_overrides(self) -> dict[str, Any]:
        """Extra HF config fields of the head (e.g. problem_type)."""
        return {}

    def make_metrics(self, label_names: list[str] | None) -> None:
        """The task's torchmetrics objects, one set per evaluation stage (val_*, test_*), and a
        `{stage}_store` PredictionStore holding what the reports need."""
        raise NotImplementedError

    def loss_and_logits(self, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, Any]:
        """The task's loss on `batch` and the outputs it came from (logits, or e.g. start and end logits)."""
        raise NotImplementedError

    def eval_step(self, batch: dict[str, torch.Tensor], stage: str) -> None:
        """Update the `stage` (val or test) metrics and store with one batch."""
        raise NotImplementedError

    def end_epoch(self, stage: str) -> None:
        """Log what the metrics need at epoch end; then keep the predictions for reports."""
        self.keep_for_reports(stage)

    def export_info(self) -> dict[str, Any]:
        """What predict.py needs besides the weights, stored as config.json's `finetune` (task first)."""
        return {"task": self.task_name}

    # ------------------------------------------------------------------ shared
    def keep_for_reports(self, stage: str) -> None:
        """This epoch's predictions (gathered from all ranks), then reset the store."""
        store = getattr(self, f"{stage}_store")
        self.predictions[stage] = store.compute()
        store.reset()

    def loss_weights(self, like: torch.Tensor) -> torch.Tensor | None:
        """Class weights in fp32 on the logits' device (the loss is computed in fp32 under any precision)."""
        return None if self.class_weights is None else self.class_weights.to(like.device, torch.float32)

    def training_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> torch.Tensor:
        loss, _ = self.loss_and_logits(batch)
        self.log("train/loss", loss, on_step=True, on_epoch=True, prog_bar=True, batch_size=len(batch["input_ids"]))
        self.log_lr()
        return loss

    def validation_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> None:
        self.eval_step(batch, "val")

    def test_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> None:
        self.eval_step(batch, "test")

    def on_validation_epoch_end(self) -> None:
        self.end_epoch("val")

    def on_test_epoch_end(self) -> None:
        self.end_epoch("test")

    def forward(self, batch: dict[str, torch.Tensor]) -> Any:
        """The head's output (a transformers ModelOutput: `.logits`, or `.start_logits`/`.end_logits`...).

        A batch without padding carries no attention_mask (see PadCollator): the backbone then runs
        unmasked attention, which skips transformers' mask preparation (a host-device sync) and lets SDPA
        pick its fastest kernel.
        """
        inputs = {k: batch[k] for k in MODEL_INPUTS if batch.get(k) is not None}
        return self.model(**inputs)

    def log_lr(self) -> None:
        """Learning rate, at logging steps only (logging a Python float copies it to the device: a sync)."""
        if self.trainer.global_step % self.trainer.log_every_n_steps == 0:
            self.log("train/lr", self.optimizers().optimizer.param_groups[0]["lr"], on_step=True, on_epoch=False)

    def configure_optimizers(self) -> dict:
        steps = self.hparams.steps_per_epoch
        if steps is None:
            raise RuntimeError("steps_per_epoch was not given: train.py passes the data module's batches_per_epoch().")
        return configure_optimizers(self, self.settings.optimizer, self.settings.scheduler, steps)

    def configure_gradient_clipping(
        self, optimizer: torch.optim.Optimizer, gradient_clip_val: float | None = None, gradient_clip_algorithm=None
    ) -> None:
        """Clip by global norm on every strategy (FSDP needs its own clip_grad_norm_, see clip_gradients)."""
        clip_gradients(self, optimizer, gradient_clip_val, gradient_clip_algorithm)

    def on_save_checkpoint(self, checkpoint: dict) -> None:
        checkpoint["task"] = self.task_name
        checkpoint["rng_states"] = rng_state()

    def on_load_checkpoint(self, checkpoint: dict) -> None:
        if "rng_states" in checkpoint:
            set_rng_state(checkpoint["rng_states"])

    def export_state(self) -> dict[str, torch.Tensor]:
        """The exported model's weights, a CPU copy (a task may rewrite it: regression folds its target
        normalisation into the head). The module itself is left unchanged."""
        return {k: v.detach().to("cpu", copy=True) for k, v in self.model.state_dict().items()}
