"""Speaker identification on FSDD with the MFCC CNN: per-clip against dataset normalisation (a script; no test).

Label = speaker (6 classes), digits ignored. FSDD's own split: takes 0-4 of every digit and speaker are the test set;
of the training takes, 5-9 are held out for validation and 10-49 are trained on (every file is its own recording, so
no recording is on two sides). For each variant of `MFCCFeatureExtractor` the CNN (`build_mfcc_cnn`, defaults) is
trained from scratch with AdamW (lr 3e-3, the FSDD reference rate; linear decay, batch 32) for `--epochs` epochs, and
the accuracy of the last epoch is reported on validation and test (higher is better; chance is 1/6).

Variants:

- `per_clip`: per-clip cepstral mean and variance normalisation, 20 frames of 50 ms (the extractor's behaviour
  before dataset normalisation existed);
- `dataset`: the defaults, fitted on the training clips: frames covering the 99th percentile of their lengths, and
  per-coefficient mean and standard deviation over their frames;
- `dataset_20`: dataset normalisation with 20 frames (`fit(..., length_percentile=None)`), separating the two
  changes;
- `none`: raw MFCC, 20 frames.

Run (about 1-2 minutes per variant and seed with one thread):

    python perf/speaker_features.py --fsdd path/to/free-spoken-digit-dataset --epochs 15
"""

import argparse
import time

import numpy as np
import torch

from hf_unlearn.data.fsdd import load_fsdd
from hf_unlearn.models import MFCCFeatureExtractor, build_mfcc_cnn

SAMPLING_RATE = 8000
VALIDATION_TAKES = range(5, 10)
VARIANTS = ("per_clip", "dataset", "dataset_20", "none")


def build_extractor(variant: str, train_audio) -> MFCCFeatureExtractor:
    if variant == "per_clip":
        return MFCCFeatureExtractor(sampling_rate=SAMPLING_RATE, normalize="per_clip")
    if variant == "none":
        return MFCCFeatureExtractor(sampling_rate=SAMPLING_RATE, normalize="none")
    extractor = MFCCFeatureExtractor(sampling_rate=SAMPLING_RATE)
    return extractor.fit(train_audio, audio_column="audio", length_percentile=None if variant == "dataset_20" else 99)


def features(extractor, dataset) -> torch.Tensor:
    from hf_unlearn.data.audio_utils import load_audio_array

    arrays = [load_audio_array(value, sampling_rate=SAMPLING_RATE)[0] for value in dataset["audio"]]
    return extractor(arrays, sampling_rate=SAMPLING_RATE, return_tensors="pt")["input_features"]


def accuracy(model, inputs: torch.Tensor, labels: torch.Tensor) -> float:
    model.eval()
    with torch.no_grad():
        return (model(inputs).logits.argmax(-1) == labels).float().mean().item()


def train(extractor, speakers, splits, epochs: int, seed: int, learning_rate: float, batch_size: int = 32):
    torch.manual_seed(seed)
    model, _ = build_mfcc_cnn(speakers, feature_extractor=extractor)
    (train_x, train_y), validation, test = splits
    optimizer = torch.optim.AdamW(model.parameters(), lr=learning_rate, weight_decay=0.0)
    steps = epochs * -(-len(train_y) // batch_size)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: 1 - step / steps)
    generator = torch.Generator().manual_seed(seed)
    for _ in range(epochs):
        model.train()
        for batch in torch.randperm(len(train_y), generator=generator).split(batch_size):
            optimizer.zero_grad()
            model(train_x[batch], labels=train_y[batch]).loss.backward()
            optimizer.step()
            scheduler.step()
    return accuracy(model, *validation), accuracy(model, *test)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fsdd", required=True, help="FSDD folder (holding recordings/).")
    parser.add_argument("--epochs", type=int, default=15)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--learning_rate", type=float, default=3e-3)
    parser.add_argument("--variants", nargs="+", choices=VARIANTS, default=list(VARIANTS))
    args = parser.parse_args(argv)
    torch.set_num_threads(1)

    data = load_fsdd(args.fsdd, decode_audio=False)
    speakers = sorted(set(data["train"]["speaker"]))
    is_validation = [take in VALIDATION_TAKES for take in data["train"]["take"]]
    train_rows = data["train"].select([i for i, held_out in enumerate(is_validation) if not held_out])
    validation_rows = data["train"].select([i for i, held_out in enumerate(is_validation) if held_out])
    rows = {"train": train_rows, "validation": validation_rows, "test": data["test"]}
    print(
        f"FSDD speaker ID: {len(speakers)} speakers {speakers}; " + ", ".join(f"{k} {len(v)}" for k, v in rows.items())
    )

    print(f"{'variant':<11} {'frames':>6} {'covers s':>8} {'seed':>4} {'val acc':>7} {'test acc':>8} {'time s':>6}")
    results = {}
    for variant in args.variants:
        started = time.perf_counter()
        extractor = build_extractor(variant, train_rows)
        splits = [
            (features(extractor, split), torch.tensor([speakers.index(s) for s in split["speaker"]]))
            for split in rows.values()
        ]
        for seed in args.seeds:
            validation_accuracy, test_accuracy = train(
                extractor, speakers, splits, args.epochs, seed, args.learning_rate
            )
            results.setdefault(variant, []).append(test_accuracy)
            print(
                f"{variant:<11} {extractor.num_frames:>6} {extractor.covered_seconds:>8.2f} {seed:>4} "
                f"{validation_accuracy:>7.3f} {test_accuracy:>8.3f} {time.perf_counter() - started:>6.0f}",
                flush=True,
            )
    print("mean test accuracy (higher is better): " + ", ".join(f"{k} {np.mean(v):.3f}" for k, v in results.items()))


if __name__ == "__main__":
    main()
