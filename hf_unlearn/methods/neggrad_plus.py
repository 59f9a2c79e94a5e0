"""NG+ / NegGrad+: descend on the retain set while ascending on the forget set.

Kurmanji et al., "Towards Unbounded Machine Unlearning", NeurIPS 2023 (NegGrad+); "NG+" in UnSLU-BENCH (Koudounas et
al., Interspeech 2025).

Loss: `L = w_r * CE(retain) - w_f * CE(forget)`, on batches that pair a retain batch with a forget batch of the same
size. Schedule, as in the references (UnSLU-BENCH's `advancedneggrad`, the SCRUB repository's `train_negrad`): an
epoch is one pass over the retain set, the forget set cycled alongside it.

Defaults: UnSLU-BENCH's equal weights `w_r = w_f = 1`. Preset `"scrub_repo"`: the SCRUB repository's
`alpha = 0.9999`, i.e. `w_r = alpha`, `w_f = 1 - alpha`.

Deviations: the forget set is cycled through fresh seeded permutations (`pairing_seed`) rather than repeating the same
forget batches in the same order (`itertools.cycle` over a loader), and each retain row's forget partner is fixed for
the run rather than reshuffled each epoch. UnSLU-BENCH does not clip NG+'s gradients; transformers' default
`max_grad_norm=1.0` still applies unless set to 0 (the `unslu` preset does). The rate decays linearly to 0 (the
Trainer's schedule, kept by `UnlearningConfig`) where UnSLU-BENCH keeps it constant (the `unslu` preset does).
"""

from dataclasses import dataclass

from hf_unlearn.papers import KURMANJI_2023
from hf_unlearn.trainer.config import UnlearningConfig, unslu_preset
from hf_unlearn.trainer.trainer import UnlearningTrainer

SCRUB_REPO_ALPHA = 0.9999


@dataclass
class NegGradPlusConfig(UnlearningConfig):
    """NG+ uses `retain_weight` (w_r) and `forget_weight` (w_f), equal by default (UnSLU-BENCH)."""

    PRESETS = {
        "unslu": unslu_preset(1e-6),
        "scrub_repo": {"retain_weight": SCRUB_REPO_ALPHA, "forget_weight": 1 - SCRUB_REPO_ALPHA},
    }


class NegGradPlusTrainer(UnlearningTrainer, method="neggrad_plus", aliases=("ng+", "neggrad+", "ngplus")):
    config_class = NegGradPlusConfig
    ascends = True
    summary = "NG+: `w_r CE(retain) - w_f CE(forget)`, epoch over retain; preset `scrub_repo` (alpha = 0.9999)"
    paper = KURMANJI_2023
    default_epoch_over = "retain"

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        forget = self.mean_loss(model, inputs["forget"], "forget")
        retain = self.mean_loss(model, inputs["retain"], "retain")
        self.record_terms(forget=forget, retain=retain)
        loss = self.args.retain_weight * retain - self.args.forget_weight * forget
        return (loss, None) if return_outputs else loss
