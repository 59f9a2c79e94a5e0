"""RandLabel: fine-tune on the forget set relabelled at random, together with the retain set.

Golatkar et al., "Eternal Sunshine of the Spotless Net", CVPR 2020 (random-label baseline); also the relabelling step
of SalUn (Fan et al., ICLR 2024).

Loss: `L = w_f * CE(forget, y') + w_r * CE(retain, y)`, where each forget sample's `y'` is drawn uniformly among the
classes other than its true label, once per sample (seeded by `pairing_seed`), so it never returns the true label.
Deviations: labels are fixed per sample for the whole run rather than redrawn every epoch, which keeps gradient
accumulation and resumption exact.
"""

from dataclasses import dataclass

from hf_unlearn.config import UnlearningConfig
from hf_unlearn.data.collator import RANDOM_LABELS
from hf_unlearn.papers import GOLATKAR_2020
from hf_unlearn.trainer import UnlearningTrainer


@dataclass
class RandomLabelsConfig(UnlearningConfig):
    """Random labels on forget (weight `forget_weight`) plus retain CE (weight `retain_weight`)."""

    PRESETS = {}  # UnSLU-BENCH does not run RandLabel: no benchmark preset.


class RandomLabelsTrainer(UnlearningTrainer, method="random_labels", aliases=("randlabel", "rl")):
    config_class = RandomLabelsConfig
    summary = "forget relabelled to another class, plus retain"
    paper = GOLATKAR_2020
    default_epoch_over = "forget"
    uses_random_labels = True

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        forget = self.mean_loss(model, inputs["forget"], "forget", labels_key=RANDOM_LABELS)
        retain = self.mean_loss(model, inputs["retain"], "retain")
        self.record_terms(forget=forget, retain=retain)
        loss = self.args.forget_weight * forget + self.args.retain_weight * retain
        return (loss, None) if return_outputs else loss
