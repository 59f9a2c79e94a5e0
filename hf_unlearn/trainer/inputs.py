"""What goes into and out of an [`UnlearningTrainer`]'s steps, as plain objects the trainer builds: the data it
receives turned into model inputs once ([`RequestFeaturizer`]: labels checked against the model's label names, names
encoded as ids, features extracted, clips shorter than the model's receptive field refused, labels range-checked),
and the loss terms methods record for logging ([`LossTerms`])."""

from __future__ import annotations

from collections import defaultdict

import torch

from hf_unlearn import checks
from hf_unlearn.data.features import featurize, min_clip_samples


class RequestFeaturizer:
    """Featurizes datasets for one trainer.

    Args:
        processing_class (`FeatureExtractionMixin`): the model's feature extractor.
        args ([`UnlearningConfig`]): gives `audio_column` and `label_column`.
        model (`PreTrainedModel`): gives the label count and names (`num_labels`, `class_names`) and, with the
            extractor, the shortest clip the model accepts.
        method_key (`str`): named in errors.
    """

    def __init__(self, processing_class, args, model, method_key: str):
        self.processing_class, self.args, self.method_key = processing_class, args, method_key
        config = getattr(model, "config", None)
        self.num_labels = getattr(config, "num_labels", None)
        self.class_names = checks.model_label_names(model)
        self.min_samples = min_clip_samples(processing_class, config)

    def __call__(self, dataset, name: str):
        """Model inputs + labels of `dataset` (split `name`), as NumPy-formatted rows."""
        label_column = self.args.label_column
        checks.check_label_names(dataset, name, label_column, self.class_names)
        dataset = checks.encode_label_names(dataset, name, label_column, self.class_names)
        dataset = featurize(
            dataset,
            self.processing_class,
            self.args.audio_column,
            label_column,
            f"Extracting features ({name})",
            self.min_samples,
            name,
        )
        checks.check_labels(dataset, name, self.num_labels)
        return dataset.with_format("numpy")

    def side(self, dataset, name: str):
        """A training side (`"forget"` or `"retain"`): refused when missing or empty, featurized otherwise."""
        if dataset is None:
            raise ValueError(f"Method {self.method_key!r} trains on the {name} set: pass {name}_dataset=<Dataset>.")
        if len(dataset) == 0:
            raise ValueError(f"The {name} set is empty: method {self.method_key!r} needs {name} samples.")
        return self(dataset, name)

    def evaluation(self, eval_dataset):
        """One evaluation dataset, or a dict of named splits (none may be empty)."""
        if not isinstance(eval_dataset, dict):
            return self(eval_dataset, "eval")
        for name, dataset in eval_dataset.items():
            if len(dataset) == 0:
                raise ValueError(f"The evaluation split {name!r} is empty: drop it or give it samples.")
        return {name: self(dataset, name) for name, dataset in eval_dataset.items()}


class LossTerms:
    """Sums of the loss terms methods record (`UnlearningTrainer.record_terms`) since the last training log."""

    def __init__(self):
        self.sums: dict[str, torch.Tensor] = defaultdict(lambda: torch.zeros((), dtype=torch.float64))
        self.counts: dict[str, int] = defaultdict(int)

    def record(self, terms: dict[str, torch.Tensor]) -> None:
        for name, value in terms.items():
            self.sums[name] = self.sums[name] + value.detach().double().cpu()
            self.counts[name] += 1

    def pop_means(self, accelerator, device) -> dict[str, float]:
        """`{"loss/<name>": mean}` since the last call, each mean over every record of every process (a collective:
        every process calls it at every training log); empties the sums. The processes first agree on the names:
        a term recorded only for some rows (e.g. the forget rows of a mixed batch) may be missing in a process whose
        micro-batches had none, and reducing tensors of different lengths would hang the processes."""
        names = sorted(self.counts)
        if accelerator.num_processes > 1:
            gathered = [None] * accelerator.num_processes
            torch.distributed.all_gather_object(gathered, names)
            names = sorted(set().union(*gathered))
        if not names:
            return {}
        totals = torch.tensor(
            [[float(self.sums[n]) if n in self.counts else 0.0, float(self.counts.get(n, 0))] for n in names],
            dtype=torch.float64,
        ).to(device)
        totals = accelerator.reduce(totals, reduction="sum")
        self.sums.clear()
        self.counts.clear()
        return {f"loss/{n}": round(float(total / count), 6) for n, (total, count) in zip(names, totals.tolist())}
