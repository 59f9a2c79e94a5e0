"""CF-k / EU-k: Goel et al., "Towards Adversarial Evaluations for Inexact Machine Unlearning", 2022 (arXiv:2201.06640).

CF-k ("catastrophically forget the last k layers") freezes every parameter except those of the last `k` blocks and
fine-tunes on the retain set: `L = CE(retain)`. EU-k ("exact unlearning the last k layers", `reinit=True`) first
re-initialises those blocks, then trains them on the retain set.

"The last k blocks" are the last `k` top-level child modules that hold parameters, in `model.named_children()`
order (`trainable_module_names`). For `*ForSequenceClassification` models that is the classifier for `k=1` and
projector + classifier for `k=2`; for hf-unlearn's MFCC CNN, `k=1` is the classifier. Modules registered in another
order than they are applied would be picked wrongly: check `trainer.trainable_module_names`.

Deviations: "blocks" are top-level child modules rather than the paper's ResNet stages. Freezing happens in
`before_optimizer()` (the trainer's one place for parameter selection), so the optimizer only sees the last `k`
blocks; a resumed run freezes the same blocks again without re-initialising them. The frozen modules run in eval mode
during training, so that their batch-norm statistics stay the original's and the trained blocks learn from the
features the unlearned model will compute (no dropout in front of them): frozen means unchanged, buffers included.
Re-initialisation calls `reset_parameters()` on every sub-module that has one, under the run's seed.
CF-k refuses `peft_config=`: choosing the trained blocks is already its parameter-efficient scheme (see `peft_note`).
"""

from dataclasses import dataclass, field

from hf_unlearn.papers import GOEL_2022
from hf_unlearn.trainer.config import UnlearningConfig, unslu_preset
from hf_unlearn.trainer.sharding import reset_parameters_whole
from hf_unlearn.trainer.trainer import UnlearningTrainer


@dataclass
class CFkConfig(UnlearningConfig):
    """CF-k's depth and the EU-k switch.

    Args:
        k (`int`, *optional*, defaults to 1):
            Number of last top-level child modules (with parameters) to train; the rest is frozen.
        reinit (`bool`, *optional*, defaults to `False`):
            Re-initialise those modules before training (EU-k) instead of fine-tuning them (CF-k).
    """

    k: int = field(default=1, metadata={"help": "Number of last top-level modules to train."})
    reinit: bool = field(default=False, metadata={"help": "Re-initialise them first (EU-k)."})

    PRESETS = {"unslu": unslu_preset(1e-4)}

    def __post_init__(self):
        super().__post_init__()
        if self.k < 1:
            raise ValueError(f"k must be >= 1, got {self.k}.")


def last_k_modules(model, k: int) -> list[tuple[str, object]]:
    """The last `k` top-level child modules of `model` that hold parameters, in `named_children()` order."""
    with_parameters = [
        (name, module) for name, module in model.named_children() if any(True for _ in module.parameters())
    ]
    if k > len(with_parameters):
        raise ValueError(
            f"k={k} but the model has only {len(with_parameters)} top-level modules with parameters: "
            f"{[name for name, _ in with_parameters]}."
        )
    return with_parameters[-k:]


class CFkTrainer(UnlearningTrainer, method="cf_k", aliases=("cf-k", "cfk")):
    config_class = CFkConfig
    summary = "CF-k: freeze all but the last `k` top-level modules, fine-tune on retain; `reinit=True`: EU-k"
    paper = GOEL_2022
    uses_forget = False
    default_epoch_over = "retain"
    peft_support = "refuse"
    peft_note = (
        "CF-k chooses which blocks of the model train (the last k top-level modules) and EU-k re-initialises them; "
        "a PEFT adapter already fixes which parameters train, and a PeftModel's only top-level module is the whole "
        "base model. For a parameter-efficient CF-k, use method='finetune' with a LoraConfig whose target_modules "
        "lie in the last blocks."
    )

    def before_optimizer(self) -> None:
        self._select_blocks(reinit=self.args.reinit)

    def load_method_state(self, state: dict) -> None:
        super().load_method_state(state)
        self._select_blocks(reinit=False)  # the resumed weights already hold EU-k's re-initialisation

    def _select_blocks(self, reinit: bool) -> None:
        """Freezes every parameter but those of the last `k` blocks, re-initialised first when `reinit` (EU-k)."""
        selected = last_k_modules(self.accelerator.unwrap_model(self.model), self.args.k)
        self.trainable_module_names = [name for name, _ in selected]
        for parameter in self.model.parameters():
            parameter.requires_grad_(False)
        for _, module in selected:
            if reinit:
                for submodule in module.modules():
                    if hasattr(submodule, "reset_parameters"):
                        reset_parameters_whole(submodule)  # an FSDP2-sharded module gets the whole module's values
            for parameter in module.parameters():
                parameter.requires_grad_(True)

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        self._hold_frozen_modules(model)
        retain = self.side_loss(model, inputs, "retain")
        return (retain, None) if return_outputs else retain

    def _hold_frozen_modules(self, model) -> None:
        """Runs every top-level module but the trained ones in eval mode: the Trainer puts the whole model in train
        mode before each step, which would move the frozen blocks' batch-norm statistics (their weights are frozen,
        their buffers are not) and drop out the features the trained blocks learn from."""
        unwrapped = self.accelerator.unwrap_model(model)
        trained = {name for name, _ in last_k_modules(unwrapped, self.args.k)}  # also before train() chose them
        for name, module in unwrapped.named_children():
            if name not in trained:
                module.eval()
