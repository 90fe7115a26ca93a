"""scikit-learn's bundled digits: the embedded offline default (1797 8x8 grayscale images, 10 classes)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from .registry import SourceSets, register_data_source
from .splits import ImageTensors, per_class_split

# The digits' held-out test split is fixed, independent of the train/val seed.
_TEST_SEED = 20210401
_TEST_FRACTION = 0.2


@register_data_source("digits", root="none")
def digits(root: Path | None, input_size: int, in_chans: int) -> SourceSets:
    """Bilinearly resized, channels copied to ``in_chans``; a fixed 20% per class held out as the test set."""
    from sklearn.datasets import load_digits
    from torchvision import transforms

    data = load_digits()
    images = torch.tensor(data.images, dtype=torch.float32).unsqueeze(1) / 16.0
    images = torch.nn.functional.interpolate(images, size=(input_size, input_size), mode="bilinear",
                                             align_corners=False).clamp_(0, 1).expand(-1, in_chans, -1, -1)
    targets = data.target.astype(np.int64)
    trainval_idx, test_idx = per_class_split(targets, _TEST_FRACTION, _TEST_SEED)
    trainval = ImageTensors(images[trainval_idx].contiguous(), targets[trainval_idx])
    test = ImageTensors(images[test_idx].contiguous(), targets[test_idx])
    mean, std = trainval.images.mean().item(), trainval.images.std().item()
    normalize = transforms.Normalize([mean] * in_chans, [std] * in_chans)
    # Shifts of up to one original pixel; no flips (digits are not mirror-symmetric).
    shift = transforms.RandomCrop(input_size, padding=max(1, input_size // 8))
    return SourceSets(trainval, test, transforms.Compose([shift, normalize]), normalize, num_classes=10)
