"""Configuration of the MFCC CNN audio classifier."""

from huggingface_hub.dataclasses import strict
from transformers import PreTrainedConfig


@strict
class MFCCCNNConfig(PreTrainedConfig):
    r"""
    Configuration of [`MFCCCNNForAudioClassification`], a small convolutional classifier over a fixed grid of MFCC
    features, after the CNN of "Machine Unlearning on Audio Classification" (FSDD digits and speakers: convolution,
    batch norm and dropout on 20x20 MFCC inputs, then dense layers). With the defaults and 10 labels it has about 94k
    parameters and trains on a CPU in seconds.

    The network reads `input_features` of shape `(batch_size, n_mfcc, num_frames)` as a one-channel image. Each
    entry of `conv_channels` adds a block `conv -> batch_norm -> activation -> pool -> dropout` (`3x3` "same"
    convolution, `2x2` max pooling); an adaptive average pool then brings the map to `pooled_size x pooled_size`, so
    the size of the flattened features does not depend on `n_mfcc` or `num_frames`. The dense layers of
    `hidden_sizes` (ReLU, dropout) and a linear `classifier` follow.

    Like every transformers config, this is a dataclass: pass the fields below and the usual `PreTrainedConfig`
    keyword arguments (`num_labels`, `id2label`, `label2id`, ...) by keyword.

    Args:
        n_mfcc (`int`, *optional*, defaults to 20):
            Number of MFCC coefficients, the height of the input grid. Must match the feature extractor.
        num_frames (`int`, *optional*, defaults to 20):
            Number of frames, the width of the input grid. Must match the feature extractor, whose `fit` may change
            it: `build_mfcc_cnn(labels, feature_extractor=extractor)` takes it from the extractor.
        conv_channels (`list[int]` or `tuple[int, ...]`, *optional*, defaults to `(32, 64)`):
            Output channels of each convolutional block; its length is the number of blocks. Stored as a list.
        kernel_size (`int`, *optional*, defaults to 3):
            Side of the square convolution kernels. The convolutions use "same" padding, so only pooling shrinks the
            map.
        pooled_size (`int`, *optional*, defaults to 3):
            Side of the grid that the adaptive average pool produces after the last block. The flattened feature
            size is `conv_channels[-1] * pooled_size**2`.
        hidden_sizes (`list[int]` or `tuple[int, ...]`, *optional*, defaults to `(128,)`):
            Widths of the dense layers between the flattened features and the classifier. Empty for none. Stored as a
            list.
        dropout (`float`, *optional*, defaults to 0.25):
            Dropout probability after every convolutional block and every dense layer.
        use_batch_norm (`bool`, *optional*, defaults to `True`):
            Whether each block normalises its convolution output with `nn.BatchNorm2d`. Turn it off when the
            gradient of a batch must equal the sum of the gradients of its parts (e.g. gradient-accumulation
            tests): batch statistics depend on the micro-batch size. `batch_norm` is then an `nn.Identity`.
        initializer_range (`float`, *optional*, defaults to 0.02):
            Standard deviation of the normal initialisation of the classifier weights. Small values start the model
            close to the uniform prediction; convolution and dense layers use Kaiming initialisation instead.

    Example:

    ```python
    >>> from hf_unlearn.models import MFCCCNNConfig, MFCCCNNForAudioClassification

    >>> config = MFCCCNNConfig(id2label={0: "zero", 1: "one"}, label2id={"zero": 0, "one": 1})
    >>> model = MFCCCNNForAudioClassification(config)
    ```"""

    model_type = "mfcc_cnn"

    n_mfcc: int = 20
    num_frames: int = 20
    conv_channels: list[int] | tuple[int, ...] = (32, 64)
    kernel_size: int = 3
    pooled_size: int = 3
    hidden_sizes: list[int] | tuple[int, ...] = (128,)
    dropout: float | int = 0.25
    use_batch_norm: bool = True
    initializer_range: float = 0.02

    def __post_init__(self, **kwargs):
        # Lists, not tuples: `config.json` holds lists, so a config read back from disk compares equal to this one.
        self.conv_channels = list(self.conv_channels)
        self.hidden_sizes = list(self.hidden_sizes)
        super().__post_init__(**kwargs)

    def validate_architecture(self):
        """Part of `@strict`-powered validation: rejects shapes that would build a broken network."""
        super().validate_architecture()
        for name in ("n_mfcc", "num_frames", "kernel_size", "pooled_size"):
            if getattr(self, name) < 1:
                raise ValueError(f"`{name}` must be at least 1, got {getattr(self, name)}.")
        if len(self.conv_channels) == 0:
            raise ValueError("`conv_channels` must name at least one convolutional block, got an empty list.")
        for name in ("conv_channels", "hidden_sizes"):
            if any(width < 1 for width in getattr(self, name)):
                raise ValueError(f"Every entry of `{name}` must be at least 1, got {getattr(self, name)}.")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"`dropout` must be in [0, 1), got {self.dropout}.")


__all__ = ["MFCCCNNConfig"]
