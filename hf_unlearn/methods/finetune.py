"""FT: fine-tune on the retain set only, so that the forget set's influence fades ("catastrophic forgetting").

The baseline of every unlearning benchmark; in UnSLU-BENCH (Koudounas et al., Interspeech 2025), "FT".

Loss: `L = CE(retain)`. Deviations: the rate decays linearly to 0 (the Trainer's schedule, kept by `UnlearningConfig`)
where the reference code keeps it flat over runs this short.
"""

from dataclasses import dataclass

from hf_unlearn.papers import LORA_FORGETTING_RUNS, UNSLU_BENCH, WHISPER_LORA_RUNS
from hf_unlearn.trainer.config import UnlearningConfig, unslu_preset
from hf_unlearn.trainer.trainer import UnlearningTrainer


@dataclass
class FinetuneConfig(UnlearningConfig):
    """FT has no hyperparameters beyond the optimiser's. Preset `"unslu"`: one epoch, AdamW, lr 1e-4 (UnSLU-BENCH)."""

    PRESETS = {"unslu": unslu_preset(1e-4)}


class FinetuneTrainer(UnlearningTrainer, method="finetune", aliases=("ft",)):
    config_class = FinetuneConfig
    summary = "FT: fine-tune on retain"
    paper = UNSLU_BENCH
    uses_forget = False
    default_epoch_over = "retain"
    peft_note = (
        "under LoRA r=8 fine-tuning on retain alone did not forget a class of FSDD digits in one epoch on an AST "
        "(forget accuracy 1.000, gold 0.000), while it did on Speech Commands words ("
        + LORA_FORGETTING_RUNS
        + "): an adapter leaves what the frozen weights know. On a Whisper encoder it forgot both datasets' classes "
        "(forget accuracy within 0.001 of gold, test -0.010 and +0.009; " + WHISPER_LORA_RUNS + ")."
    )

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        retain = self.side_loss(model, inputs, "retain")
        return (retain, None) if return_outputs else retain
