"""RandLabel: fine-tune on the forget set relabelled at random, together with the retain set.

Golatkar et al., "Eternal Sunshine of the Spotless Net", CVPR 2020 (random-label baseline); also the relabelling step
of SalUn (Fan et al., ICLR 2024), whose code (`RL`) this schedule follows.

Schedule: each epoch is one full pass over the forget set, then one full pass over the retain set
([`PhasedUnlearningDataset`]); a batch holds one side only. Loss: `w_f * CE(forget, y')` on a forget batch,
`w_r * CE(retain, y)` on a retain batch, where each forget sample's `y'` is drawn uniformly among the classes other
than its true label, once per sample (seeded by `pairing_seed`), so it never returns the true label.

Deviations: labels are fixed per sample for the whole run rather than redrawn every epoch (SalUn's code also draws
among all classes, the true one included), which keeps gradient accumulation and resumption exact. The last batch of
each pass is filled up with rows of the same side drawn again rather than being short, so each pass is a whole number
of optimizer steps (of all processes). The rate decays linearly to 0 (the Trainer's schedule, kept by
`UnlearningConfig`) where SalUn's code keeps it flat over runs this short.
"""

from dataclasses import dataclass

from hf_unlearn.data.collator import RANDOM_LABELS
from hf_unlearn.data.streams import PhasedUnlearningDataset
from hf_unlearn.papers import GOLATKAR_2020
from hf_unlearn.trainer.config import UnlearningConfig
from hf_unlearn.trainer.trainer import UnlearningTrainer


@dataclass
class RandomLabelsConfig(UnlearningConfig):
    """Random labels on forget (weight `forget_weight`) plus retain CE (weight `retain_weight`)."""

    PRESETS = {}  # UnSLU-BENCH does not run RandLabel: no benchmark preset.


class RandomLabelsTrainer(UnlearningTrainer, method="random_labels", aliases=("randlabel", "rl")):
    config_class = RandomLabelsConfig
    summary = "per epoch a pass over forget relabelled to another class, then a pass over retain"
    paper = GOLATKAR_2020
    uses_random_labels = True
    stops_in_repair = True  # the stopping rule: forget accuracy climbs back during the retain steps it admits

    def stopping_point(self, step: int, epoch_end: bool) -> bool:
        """Only a step of the retain pass that follows the relabelled forget pass may end a run of the stopping
        rule: the relabelled pass itself swings forget accuracy far below where the retain pass leaves it."""
        return self.last_step_side == "retain"

    def make_train_dataset(self, forget, retain, args):
        passes = ("forget", "retain")
        return PhasedUnlearningDataset(
            forget, retain, passes, seed=args.pairing_seed, num_labels=self.num_labels, task=self.task
        )

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        if "forget" in inputs:
            loss = self.args.forget_weight * self.side_loss(model, inputs, "forget", labels_key=RANDOM_LABELS)
        else:
            loss = self.args.retain_weight * self.side_loss(model, inputs, "retain")
        return (loss, None) if return_outputs else loss
