"""What each ``--features`` mode is made of, as data: trainer, model, inspect, export and the CLI
ask a ``FeatureMode`` instead of comparing mode names.

No heavy imports here. The modes' names are ``choices.FEATURE_MODES`` (the ground floor).

Adding a mode: describe it below, teach ``FeaturePipeline`` (features/modes.py) to compute its
vector if it needs a new part, and give it a recipe in head/recipes.py (``MODE_CHANGES``, if
the default head needs changing for it).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from ..choices import FEATURE_MODES
from ..errors import FingerspellError


@dataclass(frozen=True)
class FeatureMode:
    """One way of turning a photo into the head's input vector.

    The vector is laid out as [backbone features | landmark features | hand found flag]; the
    parts a mode lacks are absent.
    """

    name: str
    summary: str  # one line for help texts and the training summary
    backbone_input: str | None  # what the frozen backbone sees: "image", "crop" or None
    landmarks: bool = False  # MediaPipe's landmark encoding is part of the vector
    found_flag: bool = False  # a 0/1 "hand found" column ends the vector
    late_fusion: bool = False  # two heads (crop, landmarks) whose probabilities are averaged
    # The head learns from photos with a hand only; without one the model answers `nothing`
    # when it knows that class, else a whole-image fallback head trained beside it.
    head_needs_hand: bool = False
    # which landmark encoding the head reads (features/landmarks.py); a bundle records it,
    # older bundles read as 1
    landmark_encoding: int = 2

    @property
    def landmark_dim(self) -> int:
        """Columns of landmark features in the vector (0 without landmarks)."""
        from .landmarks import landmark_dim
        return landmark_dim(self.landmark_encoding) if self.landmarks else 0

    def with_landmark_encoding(self, encoding: int) -> FeatureMode:
        """The same mode reading landmarks in ``encoding`` (a saved bundle's)."""
        from .landmarks import landmark_dim
        landmark_dim(encoding)  # a known one
        return replace(self, landmark_encoding=encoding)

    @property
    def needs_hands(self) -> bool:
        """Runs MediaPipe's hand detection (and so needs its hand model)."""
        return self.landmarks or self.backbone_input == "crop"

    @property
    def uses_backbone(self) -> bool:
        return self.backbone_input is not None

    @property
    def finetunable(self) -> bool:
        """Fine-tuning trains the backbone end to end with the head that reads it: on whole
        images (``image``) or on hand crops (``crop``, and ``fusion``'s crop head)."""
        return self.uses_backbone

    @property
    def single_graph(self) -> bool:
        """Images -> probabilities is one network (exportable whole to ONNX)."""
        return self.uses_backbone and not self.needs_hands


_MODES = (
    FeatureMode("image", "the backbone on the whole photo (learns the room as well as the hand)",
                backbone_input="image"),
    FeatureMode("landmarks", "MediaPipe's 21 hand landmarks, encoded independently of the signer",
                backbone_input=None, landmarks=True, head_needs_hand=True),
    FeatureMode("crop", "the backbone on the square around the hand (left hands mirrored)",
                backbone_input="crop"),
    FeatureMode("fusion", "a head on the hand crop averaged with a head on the landmarks",
                backbone_input="crop", landmarks=True, found_flag=True, late_fusion=True),
)
MODES: dict[str, FeatureMode] = {mode.name: mode for mode in _MODES}
HAND_MODES = tuple(name for name, mode in MODES.items() if mode.needs_hands)


def get_mode(mode: str | FeatureMode) -> FeatureMode:
    """The mode of that name (a ``FeatureMode`` is returned as it is).

    Example:
        >>> get_mode("fusion").needs_hands, get_mode("image").needs_hands
        (True, False)
    """
    if isinstance(mode, FeatureMode):
        return mode
    try:
        return MODES[mode]
    except KeyError:
        raise FingerspellError(f"unknown features {mode!r}; choose from "
                               f"{', '.join(FEATURE_MODES)}") from None
