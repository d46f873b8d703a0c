"""What every task's LightningModule shares: the backbone from config, AdamW with a warmup schedule,
the training step, the val/test dispatch, the predictions kept for reports, the RNG state in checkpoints
(exact resume) and the export to a Hugging Face directory. A task's module adds its loss, evaluation
step and metrics (src/tasks/<task>/module.py)."""

from __future__ import annotations

import warnings
from typing import Any, ClassVar

import lightning as L
import torch
from lightning.pytorch.strategies import DeepSpeedStrategy, FSDPStrategy
from lightning.pytorch.utilities.warnings import PossibleUserWarning

from src.models.backbone import freeze_encoder, load_model
from src.models.compile import compile_backbone
from src.models.config import EncoderConfig
from src.models.features import CachedEncoder, FrozenFeatures, base_model, encoder_replaced
from src.models.optim import clip_gradients, configure_optimizers
from src.models.peft import (
    apply_lora,
    check_combination,
    fingerprint,
    frozen_state,
    lora_settings,
    merged,
    trained_keys,
)
from src.training.seeding import rng_state, set_rng_state
from src.utils.errors import ConfigError, LoadError
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
    # which encoder positions the head reads, what `model.freeze_backbone` caches: "first" (each sequence's
    # first token: sequence-level heads) or "all" (token-level heads); a wrong "first" fails a check, not silently
    feature_positions: ClassVar[str] = "all"

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
        check_combination(self.settings)
        self.lora = lora_settings(self.settings.peft)
        # LoRA checkpoints hold no frozen weights: the backbone always comes from `pretrained`
        self.model = load_model(
            self.auto_class,
            self.settings.pretrained,
            label_names=label_names,
            config_dict=None if self.lora else backbone_config,
            config_overrides=self.config_overrides(),
            trust_remote_code=self.settings.trust_remote_code,
            revision=self.settings.revision,
            attn_implementation=self.settings.attn_implementation,
        )
        self.hparams["backbone_config"] = self.model.config.to_dict()
        if self.settings.freeze_backbone:
            freeze_encoder(self.model)
            base_model(self.model).eval()  # and no dropout: see train()
            warnings.filterwarnings("ignore", r"Found \d+ module\(s\) in eval mode", category=PossibleUserWarning)
        if self.settings.gradient_checkpointing:
            self.model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
        self.base_fingerprint: str | None = None  # of the frozen weights, as loaded (before any precision cast)
        if self.lora:
            self.base_fingerprint = fingerprint(frozen_state(self.model))
            self.model = apply_lora(self.model, self.lora)
        self.trained = {f"model.{k}" for k in trained_keys(self.model)}  # the state-dict keys checkpoints hold
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
        pick its fastest kernel. A batch with `features` (a frozen encoder's cached outputs) runs the head
        alone on them.
        """
        inputs = {k: batch[k] for k in MODEL_INPUTS if batch.get(k) is not None}
        if batch.get("features") is None:
            return self.model(**inputs)
        stub = CachedEncoder(getattr(base_model(self.model), "pooler", None))  # per call: never a submodule
        with encoder_replaced(self.model, stub, batch["features"]):
            return self.model(**inputs)

    def train(self, mode: bool = True) -> EncoderModule:
        """A frozen encoder stays in eval mode while the head trains: its dropout is off, so its outputs are
        fixed (which is what makes them cacheable) and the cached and uncached paths train the same."""
        super().train(mode)
        if self.settings.freeze_backbone:
            base_model(self.model).eval()
        return self

    def feature_source(self) -> FrozenFeatures | None:
        """With `model.freeze_backbone` and `model.cache_features`: what the data module calls for each split's
        cached encoder outputs (TokenizedDataModule.attach_features); else None."""
        if not (self.settings.freeze_backbone and self.settings.cache_features):
            return None
        return FrozenFeatures(self.model, self.feature_positions, self.forward)

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

    def setup(self, stage: str) -> None:
        sharded = isinstance(self.trainer.strategy, (FSDPStrategy, DeepSpeedStrategy))
        if sharded and self.feature_source() is not None:
            raise ConfigError(
                f"model.freeze_backbone with model.cache_features and {type(self.trainer.strategy).__name__} "
                "(trainer.strategy): the cache runs the encoder outside the sharded forward. Fix: trainer=ddp (a "
                "frozen encoder needs no sharding of gradients or optimizer state) or model.cache_features=false."
            )
        if self.lora and sharded:
            raise ConfigError(
                f"model.peft with {type(self.trainer.strategy).__name__} (trainer.strategy): LoRA checkpoints "
                "keep only the adapters and the head, which sharded checkpoints do not support here. Fix: trainer=ddp "
                "(LoRA's gradients and optimizer state are small) or model.peft=null."
            )

    def on_save_checkpoint(self, checkpoint: dict) -> None:
        checkpoint["task"] = self.task_name
        checkpoint["rng_states"] = rng_state()
        if self.lora:  # the frozen backbone is not written: it is `pretrained`, identified by its fingerprint
            state = checkpoint["state_dict"]
            frozen = [k for k in state if k.startswith("model.") and k not in self.trained]
            for k in frozen:
                del state[k]
            checkpoint["peft"] = {"base_fingerprint": self.base_fingerprint, "frozen_keys": len(frozen)}

    def on_load_checkpoint(self, checkpoint: dict) -> None:
        if "rng_states" in checkpoint:
            set_rng_state(checkpoint["rng_states"])
        if self.lora or "peft" in checkpoint:
            self.restore_frozen(checkpoint)

    def restore_frozen(self, checkpoint: dict) -> None:
        """Fill a LoRA checkpoint's state dict with this module's frozen weights (loaded from `pretrained`), once
        their fingerprint matches the one recorded: loading stays strict, so a missing trained key still fails."""
        record = checkpoint.get("peft")
        if record is None or not self.lora:
            written, now = ("without", "with") if record is None else ("with", "without")
            raise LoadError(
                f"The checkpoint was written {written} model.peft and this module is built {now} it: their weights "
                "differ in kind (full vs adapters + head). Fix: load it with the model.peft settings it was trained "
                "with (a resume cannot change model.peft)."
            )
        if record["base_fingerprint"] != self.base_fingerprint:
            raise LoadError(
                f"model.pretrained={self.settings.pretrained!r} is not the backbone this LoRA checkpoint was trained "
                f"on: its frozen weights have fingerprint {self.base_fingerprint}, the checkpoint's base "
                f"{record['base_fingerprint']}. A LoRA checkpoint holds only the adapters and the head; the rest "
                "comes from model.pretrained. Fix: point model.pretrained (and model.revision) to the exact weights "
                "the run started from."
            )
        state = checkpoint["state_dict"]
        for k, v in self.state_dict().items():
            if k.startswith("model.") and k not in self.trained:
                state.setdefault(k, v)

    def merge_adapters(self) -> None:
        """Fold LoRA adapters into the backbone's weights: `self.model` becomes the plain Hugging Face model,
        which export saves with save_pretrained. One way: for the module export loads, not one that trains on."""
        self.model = merged(self.model)

    def export_state(self) -> dict[str, torch.Tensor]:
        """The exported model's weights, a CPU copy (a task may rewrite it: regression folds its target
        normalisation into the head). The module itself is left unchanged."""
        return {k: v.detach().to("cpu", copy=True) for k, v in self.model.state_dict().items()}
