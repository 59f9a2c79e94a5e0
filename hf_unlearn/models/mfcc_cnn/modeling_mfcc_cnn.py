"""A small CNN over MFCC features, after "Machine Unlearning on Audio Classification" (FSDD digits and speakers).

Unlearning methods reset or perturb parts of this model by name, so the module names are part of its interface:

- `conv_blocks.{i}.conv`, `.batch_norm` (an `nn.Identity` when `use_batch_norm=False`), `.activation`, `.pool`,
  `.dropout`;
- `pooler` (adaptive average pooling, no parameters);
- `dense_layers.{i}` (`nn.Linear`; ReLU and dropout are applied in `forward`);
- `classifier` (`nn.Linear`).
"""

import torch
from torch import nn
from transformers import PreTrainedModel
from transformers import initialization as init
from transformers.modeling_outputs import SequenceClassifierOutput

from .configuration_mfcc_cnn import MFCCCNNConfig


class MFCCCNNConvBlock(nn.Module):
    """`conv -> batch_norm -> activation -> pool -> dropout`, halving the height and width (rounded up)."""

    def __init__(self, config: MFCCCNNConfig, in_channels: int, out_channels: int):
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, kernel_size=config.kernel_size, padding="same")
        self.batch_norm = nn.BatchNorm2d(out_channels) if config.use_batch_norm else nn.Identity()
        self.activation = nn.ReLU()
        # ceil_mode keeps a side of 1 at 1 instead of 0, so a small `n_mfcc` or `num_frames` never empties the map.
        self.pool = nn.MaxPool2d(kernel_size=2, ceil_mode=True)
        self.dropout = nn.Dropout(config.dropout)

    def forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
        hidden_states = self.activation(self.batch_norm(self.conv(hidden_states)))
        return self.dropout(self.pool(hidden_states))


class MFCCCNNForAudioClassification(PreTrainedModel):
    r"""
    CNN audio classifier over a `(n_mfcc, num_frames)` MFCC grid, as produced by [`MFCCFeatureExtractor`].

    Args:
        config ([`MFCCCNNConfig`]):
            Model configuration. `config.num_labels` (from `id2label`) sets the classifier width.
    """

    config_class = MFCCCNNConfig
    base_model_prefix = "mfcc_cnn"
    main_input_name = "input_features"
    input_modalities = ("audio",)
    # The loss is a mean over the batch and ignores `num_items_in_batch`; with this flag `transformers.Trainer`
    # divides it by the gradient-accumulation steps itself instead of assuming the model normalised it.
    accepts_loss_kwargs = False

    def __init__(self, config: MFCCCNNConfig):
        super().__init__(config)
        self.num_labels = config.num_labels

        in_channels = [1] + list(config.conv_channels[:-1])
        self.conv_blocks = nn.ModuleList(
            MFCCCNNConvBlock(config, in_c, out_c) for in_c, out_c in zip(in_channels, config.conv_channels)
        )
        self.pooler = nn.AdaptiveAvgPool2d(config.pooled_size)

        widths = [config.conv_channels[-1] * config.pooled_size**2] + list(config.hidden_sizes)
        self.dense_layers = nn.ModuleList(nn.Linear(w_in, w_out) for w_in, w_out in zip(widths[:-1], widths[1:]))
        self.dense_activation = nn.ReLU()
        self.dense_dropout = nn.Dropout(config.dropout)
        self.classifier = nn.Linear(widths[-1], config.num_labels)

        self.post_init()

    @torch.no_grad()
    def _init_weights(self, module):
        """Kaiming for ReLU layers (a CNN this small trains slowly from N(0, 0.02)); a small classifier."""
        # `init.*` skip tensors already loaded from a checkpoint (`_is_hf_initialized`), unlike `torch.nn.init`.
        if module is getattr(self, "classifier", None):
            init.normal_(module.weight, mean=0.0, std=self.config.initializer_range)
            init.zeros_(module.bias)
        elif isinstance(module, (nn.Conv2d, nn.Linear)):
            init.kaiming_normal_(module.weight, nonlinearity="relu")
            if module.bias is not None:
                init.zeros_(module.bias)
        else:
            # Batch norm: weight 1, bias 0, running statistics reset.
            super()._init_weights(module)

    def forward(
        self,
        input_features: torch.Tensor,
        labels: torch.LongTensor | None = None,
        output_hidden_states: bool | None = None,
        return_dict: bool | None = None,
        **kwargs,
    ) -> SequenceClassifierOutput | tuple:
        r"""
        Args:
            input_features (`torch.FloatTensor` of shape `(batch_size, n_mfcc, num_frames)`):
                MFCC grids from [`MFCCFeatureExtractor`].
            labels (`torch.LongTensor` of shape `(batch_size,)`, *optional*):
                Class indices in `[0, config.num_labels - 1]`; `-100` is ignored. When given, `loss` is the mean
                cross-entropy over the batch.
            output_hidden_states (`bool`, *optional*, defaults to `config.output_hidden_states`):
                Whether to return the output of every convolutional block and every dense layer (after activation).
            return_dict (`bool`, *optional*, defaults to `config.return_dict`):
                Whether to return a [`~transformers.modeling_outputs.SequenceClassifierOutput`] instead of a tuple.
            kwargs:
                Ignored; accepted so that batches carrying other keys (e.g. `attention_mask`) can be passed as is.

        Returns:
            [`~transformers.modeling_outputs.SequenceClassifierOutput`] with `loss` (when `labels` are given),
            `logits` of shape `(batch_size, num_labels)` and, if asked for, `hidden_states`; or the tuple of those
            that are not `None` when `return_dict=False`.
        """
        output_hidden_states = (
            output_hidden_states if output_hidden_states is not None else self.config.output_hidden_states
        )
        return_dict = return_dict if return_dict is not None else self.config.return_dict

        expected_shape = (self.config.n_mfcc, self.config.num_frames)
        if input_features.dim() != 3 or tuple(input_features.shape[1:]) != expected_shape:
            raise ValueError(
                f"`input_features` must have shape (batch_size, {expected_shape[0]}, {expected_shape[1]}) = "
                f"(batch_size, n_mfcc, num_frames), got {tuple(input_features.shape)}. Use the feature extractor "
                "saved with this model, or build the model for yours: `build_mfcc_cnn(labels, feature_extractor=...)`."
            )

        # One input channel: the MFCC grid is read as an image, coefficients by frames.
        hidden_states = input_features.to(self.classifier.weight.dtype).unsqueeze(1)
        all_hidden_states = ()
        for block in self.conv_blocks:
            hidden_states = block(hidden_states)
            all_hidden_states += (hidden_states,)

        hidden_states = self.pooler(hidden_states).flatten(1)
        for dense in self.dense_layers:
            hidden_states = self.dense_dropout(self.dense_activation(dense(hidden_states)))
            all_hidden_states += (hidden_states,)
        logits = self.classifier(hidden_states)

        loss = None
        if labels is not None:
            loss = nn.functional.cross_entropy(logits, labels.to(logits.device).view(-1))

        hidden_states_output = all_hidden_states if output_hidden_states else None
        if not return_dict:
            return tuple(value for value in (loss, logits, hidden_states_output) if value is not None)
        return SequenceClassifierOutput(loss=loss, logits=logits, hidden_states=hidden_states_output)


__all__ = ["MFCCCNNForAudioClassification"]
