"""Privacy of the forget request: what may be published about it, and a digest that proves which request was served.

A published unlearning checkpoint (its model card, `unlearning_config.json`, the metrics files) says *that* something
was forgotten, never *who* or *what*: no file names, speaker identities, transcripts or row indices of the forget set.
It states the kind of request (`"sample"`, `"class"` or `"speaker"`), counts and shares, and a salted digest

    digest = HMAC-SHA256(key = salt, message = "\\n".join(sorted(set(identifiers))))

of the forget-set identifiers. HMAC is the standard way to salt SHA-256: without the salt, nobody can test a guess
("was speaker X forgotten?") against the digest, even over a small set of candidates. The salt is random per run
(`secrets.token_hex(16)`), kept in a local *receipt* (`$HF_HOME/hf_unlearn/forget_requests/<digest>.json`, mode 0600)
and never written to the output folder, so `push_to_hub` cannot upload it. Later, the owner proves which request a
published checkpoint served by showing the identifiers (from their own records) and the salt:
`verify_request_digest(identifiers, salt, digest)`. The receipt holds no identifiers: keeping a list of whom was
forgotten is up to the owner's records, not to this library.

**Identifiers** of a forget `datasets.Dataset` ([`forget_identifiers`]), in order of preference:

1. the column named by `identifier_column`;
2. else the first present of [`IDENTIFIER_COLUMNS`] (`id`, `utterance_id`, `audio_id`, `file`, `path`, `file_name`,
   `filename`, `image_id`), as strings, exactly as stored (an absolute path stays absolute: pass
   `identifier_column` with a stable column when the data may move);
3. else an `Audio` column: its file path when every row has one, else `sha256:` of the encoded bytes;
   raw `{"array", ...}` audio gives `sha256:` of the float32 samples;
4. else the first model-input column (already featurized data): `sha256:` of its float32 values.

Class requests may name the forgotten classes (they are part of the model's label set, in `config.id2label`), except
when the classes are people (speaker identification, `classes_are_people`, see `hf_unlearn.hub.speaker_labels`);
speaker and sample requests never name anything unless `publish_values=True` is asked for explicitly.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import os
import secrets
import time
from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np

from hf_unlearn.data.splits import ForgetSplits

logger = logging.getLogger(__name__)

__all__ = [
    "DIGEST_ALGORITHM",
    "IDENTIFIER_COLUMNS",
    "ForgetRequest",
    "forget_identifiers",
    "load_receipt",
    "receipts_dir",
    "request_digest",
    "verify_request_digest",
]

#: Columns taken as sample identifiers, first present wins (after an explicit `identifier_column`).
IDENTIFIER_COLUMNS = ("id", "utterance_id", "audio_id", "file", "path", "file_name", "filename", "image_id")
#: How the digest is computed, recorded next to it.
DIGEST_ALGORITHM = "hmac-sha256(salt, newline-joined sorted unique identifiers)"
REQUEST_KINDS = ("sample", "class", "speaker", "unspecified")


def _message(identifiers: Sequence) -> bytes:
    values = sorted({str(value) for value in identifiers})
    if not values:
        raise ValueError("No forget-set identifiers: the digest of an empty request proves nothing.")
    bad = [value for value in values if "\n" in value]
    if bad:
        raise ValueError(f"{len(bad)} identifier(s) contain a newline, which the digest uses as separator.")
    return "\n".join(values).encode("utf-8")


def request_digest(identifiers: Sequence, salt: str) -> str:
    """The salted digest of a forget request: `HMAC-SHA256(salt, "\\n".join(sorted(set(identifiers))))`, in hex.

    Args:
        identifiers (`Sequence`): the forget-set identifiers (see the module docstring); order and repeats do not
            matter, values are compared as strings.
        salt (`str`): the secret salt of the request (at least 16 characters).
    """
    if not isinstance(salt, str) or len(salt) < 16:
        raise ValueError("The salt must be a secret string of at least 16 characters (e.g. secrets.token_hex(16)).")
    return hmac.new(salt.encode("utf-8"), _message(identifiers), hashlib.sha256).hexdigest()


def verify_request_digest(identifiers: Sequence, salt: str, digest: str) -> bool:
    """Whether `identifiers` and `salt` give `digest` (the `request.digest` of a published checkpoint).

    Compares in constant time. Any change to the set of identifiers (one added, removed or altered) gives `False`.
    """
    return hmac.compare_digest(request_digest(identifiers, salt), str(digest).removeprefix("hmac-sha256:"))


def _sha256_of_values(values) -> list[str]:
    return [
        "sha256:" + hashlib.sha256(np.ascontiguousarray(np.asarray(value, dtype=np.float32)).tobytes()).hexdigest()
        for value in values
    ]


def forget_identifiers(
    dataset,
    identifier_column: str | None = None,
    audio_column: str = "audio",
    input_names: Sequence[str] = ("input_values", "input_features"),
) -> tuple[list[str], str]:
    """The identifiers of the rows of a forget `datasets.Dataset`, and where they come from.

    See the module docstring for the order of preference. Returns `(identifiers, source)`, where `source` (e.g.
    `"column 'file'"`) is safe to publish.
    """
    columns = list(getattr(dataset, "column_names", None) or [])
    if identifier_column is not None:
        if identifier_column not in columns:
            raise ValueError(
                f"identifier_column={identifier_column!r} is not a column of the forget set (columns: {columns})."
            )
        return [str(value) for value in dataset[identifier_column]], f"column {identifier_column!r}"
    for name in IDENTIFIER_COLUMNS:
        if name in columns:
            return [str(value) for value in dataset[name]], f"column {name!r}"
    if audio_column in columns:
        from datasets import Audio

        feature = dataset.features[audio_column]
        if isinstance(feature, Audio):
            # decode=False: paths and encoded bytes, without decoding every clip.
            rows = dataset.cast_column(audio_column, Audio(decode=False))[audio_column]
            paths = [row.get("path") for row in rows]
            if all(paths):
                return [str(path) for path in paths], f"audio file paths of column {audio_column!r}"
            return (
                ["sha256:" + hashlib.sha256(row["bytes"]).hexdigest() for row in rows],
                f"sha256 of the encoded audio of column {audio_column!r}",
            )
        rows = dataset[audio_column]
        arrays = [row["array"] if isinstance(row, dict) else row for row in rows]
        return _sha256_of_values(arrays), f"sha256 of the float32 samples of column {audio_column!r}"
    for name in input_names:
        if name in columns:
            return _sha256_of_values(dataset[name]), f"sha256 of the float32 model input {name!r}"
    raise ValueError(
        f"Cannot identify the forget-set rows (columns: {columns}): add an id/file column or pass "
        "identifier_column=<a column that identifies each sample>."
    )


def receipts_dir() -> str:
    """Where receipts (salts) are kept: `$HF_HOME/hf_unlearn/forget_requests`, outside any folder that is pushed."""
    from huggingface_hub import constants

    return os.path.join(constants.HF_HOME, "hf_unlearn", "forget_requests")


def load_receipt(digest: str, directory: str | None = None) -> dict:
    """The local receipt (with the salt) of the request whose published digest is `digest`."""
    digest = str(digest).removeprefix("hmac-sha256:")
    path = os.path.join(directory or receipts_dir(), f"{digest}.json")
    if not os.path.isfile(path):
        raise ValueError(f"No receipt for digest {digest[:12]}... in {os.path.dirname(path)}: was it made elsewhere?")
    with open(path) as handle:
        return json.load(handle)


@dataclass
class ForgetRequest:
    """What was asked to be forgotten, as far as it may be published, plus the private salt and identifiers.

    Build it with [`ForgetRequest.from_splits`] (a [`~hf_unlearn.ForgetSplits`]), or directly; `UnlearningTrainer`
    accepts either (and a plain dict of these fields) as `forget_request=`.

    Args:
        kind (`str`, *optional*, defaults to `"unspecified"`): `"sample"`, `"class"` or `"speaker"`.
        values (`list`, *optional*): the forgotten classes or speakers. Published only for class requests, or when
            `publish_values=True`.
        publish_values (`bool`, *optional*, defaults to `False`): also publish speaker or sample values.
        identifier_column (`str`, *optional*): the column identifying forget rows (see [`forget_identifiers`]).
        counts (`dict`, *optional*): `num_forget`, `num_retain`, `num_retain_eval`, `num_test`, `forget_share`.
        salt (`str`, *optional*): the secret salt; a random one is drawn when omitted.
        receipt_dir (`str`, *optional*): where the receipt is written (default: [`receipts_dir`]).
    """

    kind: str = "unspecified"
    values: list = field(default_factory=list)
    publish_values: bool = False
    identifier_column: str | None = None
    counts: dict = field(default_factory=dict)
    salt: str = field(default_factory=lambda: secrets.token_hex(16), repr=False)
    receipt_dir: str | None = None
    identifiers: list[str] | None = field(default=None, repr=False)
    identifier_source: str | None = None
    # Classes that are people (speaker identification, `hf_unlearn.hub.speaker_labels`): counted, never named.
    classes_are_people: bool = False
    removed_labels: int = 0  # forgotten classes removed from the saved model (`remove_forgotten_labels`)

    def __post_init__(self):
        if self.kind not in REQUEST_KINDS:
            raise ValueError(f"Forget-request kind {self.kind!r} is not one of {REQUEST_KINDS}.")
        self.values = list(self.values or [])

    @classmethod
    def from_splits(cls, splits, **kwargs) -> "ForgetRequest":
        """The request behind a [`~hf_unlearn.ForgetSplits`]: its kind, values and counts (`splits.summary()`). On
        speaker labels (`splits.request_kind == "speaker_id"`) a forgotten class is a person (`classes_are_people`):
        counted and never named, and its label left out of the saved model (`hf_unlearn.hub.speaker_labels`)."""
        if getattr(splits, "request_kind", None) == "speaker_id":
            kwargs.setdefault("classes_are_people", True)
        return cls(kind=splits.kind, values=list(splits.values), counts=dict(splits.summary()), **kwargs)

    @classmethod
    def coerce(cls, request) -> "ForgetRequest":
        """A `ForgetRequest` from a `ForgetRequest`, a `ForgetSplits`, a dict of fields, or `None`."""
        if request is None:
            return cls()
        if isinstance(request, cls):
            return request
        if isinstance(request, ForgetSplits):
            return cls.from_splits(request)
        if isinstance(request, dict):
            known = {k: v for k, v in request.items() if k in cls.__dataclass_fields__}
            unknown = sorted(set(request) - set(known))
            if unknown:
                known_names = sorted(cls.__dataclass_fields__)
                raise ValueError(f"Unknown forget_request fields {unknown}; known: {known_names}.")
            return cls(**known)
        raise ValueError(
            f"forget_request must be a ForgetSplits, a ForgetRequest or a dict, not {type(request).__name__}."
        )

    def attach(self, forget_dataset, audio_column: str = "audio", input_names=("input_values",)) -> None:
        """Computes the identifiers (and so the digest) from the forget set."""
        if forget_dataset is None or len(forget_dataset) == 0:
            return
        self.identifiers, self.identifier_source = forget_identifiers(
            forget_dataset, self.identifier_column, audio_column, input_names
        )

    @property
    def digest(self) -> str | None:
        return request_digest(self.identifiers, self.salt) if self.identifiers else None

    def public_record(self, num_forget: int | None = None, num_retain: int | None = None, id2label=None) -> dict:
        """The publishable description: kind, counts, shares, digest; class names for class requests only."""
        counts = dict(self.counts)
        if num_forget is not None:
            counts.setdefault("num_forget", num_forget)
        if num_retain is not None:
            counts.setdefault("num_retain", num_retain)
        if "forget_share" not in counts and counts.get("num_forget") is not None and counts.get("num_retain"):
            total = counts["num_forget"] + counts["num_retain"] + counts.get("num_retain_eval", 0)
            counts["forget_share"] = counts["num_forget"] / total
        counts.pop("num_forgotten_values", None)
        record: dict[str, Any] = {"kind": self.kind, **counts}
        if self.kind in ("class", "speaker"):
            record["num_forgotten_values"] = len(self.values)
        if self.kind == "class" and self.classes_are_people:
            record["forgotten_classes_are_people"] = True  # the class is the person: counted, not named
        elif self.kind == "class":
            record["forgotten_classes"] = [_class_name(value, id2label) for value in self.values]
        if self.removed_labels:
            record["removed_labels"] = self.removed_labels
        if self.publish_values and (self.kind != "class" or self.classes_are_people):
            record["forgotten_values"] = [_class_name(value, id2label) for value in self.values]
        if self.identifiers:
            record["num_identifiers"] = len(set(self.identifiers))
            record["identifier_source"] = self.identifier_source
            record["digest"] = f"hmac-sha256:{self.digest}"
            record["digest_algorithm"] = DIGEST_ALGORITHM
        return record

    def save_receipt(self, method: str | None = None) -> str | None:
        """Writes the private receipt (salt + digest, no identifiers) outside the output folder; returns its path."""
        digest = self.digest
        if digest is None:
            return None
        directory = self.receipt_dir or receipts_dir()
        os.makedirs(directory, exist_ok=True)
        path = os.path.join(directory, f"{digest}.json")
        receipt = {
            "digest": f"hmac-sha256:{digest}",
            "salt": self.salt,
            "digest_algorithm": DIGEST_ALGORITHM,
            "kind": self.kind,
            "num_identifiers": len(set(self.identifiers)),
            "identifier_source": self.identifier_source,
            "method": method,
            "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        }
        # Created with owner-only permissions: the salt is what keeps the digest from being brute-forced.
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "w") as handle:
            json.dump(receipt, handle, indent=2)
        return path


def _class_name(value, id2label) -> str:
    """Class ids become their label names (the label set is public); names stay as given."""
    if isinstance(value, (int, np.integer)) and id2label:
        return str(id2label.get(int(value), id2label.get(str(int(value)), value)))
    return str(value)
