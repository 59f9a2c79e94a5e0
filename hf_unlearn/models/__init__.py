"""Small speech models of our own, registered with the transformers Auto classes on import.

After `import hf_unlearn.models`, `AutoConfig`, `AutoModelForAudioClassification`, `AutoFeatureExtractor` and
`pipeline("audio-classification", model=...)` load a saved MFCC CNN directory like any transformers checkpoint.
"""

from transformers import AutoConfig, AutoFeatureExtractor, AutoModelForAudioClassification

from .mfcc_cnn import MFCCCNNConfig, MFCCCNNForAudioClassification, MFCCFeatureExtractor, build_mfcc_cnn

# transformers 5.23 refuses only names that clash with its own models, so importing twice already works; exist_ok
# says that re-registering (importlib.reload, notebooks) is intended, and keeps it working if that check tightens.
AutoConfig.register(MFCCCNNConfig.model_type, MFCCCNNConfig, exist_ok=True)
AutoModelForAudioClassification.register(MFCCCNNConfig, MFCCCNNForAudioClassification, exist_ok=True)
AutoFeatureExtractor.register(MFCCCNNConfig, MFCCFeatureExtractor, exist_ok=True)

__all__ = ["MFCCCNNConfig", "MFCCCNNForAudioClassification", "MFCCFeatureExtractor", "build_mfcc_cnn"]
