"""The names the command line offers as choices, importable without PyTorch or numpy (the ground
floor: any layer may read them)."""

# what each is made of: features/feature_mode.py (which checks that it describes these names)
FEATURE_MODES = ("image", "landmarks", "crop", "fusion")

PRESETS = ("default", "seed")  # recipes: head/recipes.PRESETS (which checks these names)
SPLIT_STRATEGIES = ("auto", "signer", "frame", "random")
# where the stored temperature is fitted (docs/guide/evaluate.md, "Calibrated confidence")
CALIBRATION_SOURCES = ("validation", "sources")
HAND_PICKS = ("largest", "right", "left", "confident")
EXTRACTION_RUNTIMES = ("auto", "torch", "onnx")  # engines for feature extraction
RUNTIMES = (*EXTRACTION_RUNTIMES, "int8")  # engines for a model bundle (int8 needs calibration)

__all__ = ["CALIBRATION_SOURCES", "EXTRACTION_RUNTIMES", "FEATURE_MODES", "HAND_PICKS", "PRESETS",
           "RUNTIMES", "SPLIT_STRATEGIES"]
