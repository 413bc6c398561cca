"""Names of the inference engines (no heavy imports: the CLI's parser needs them)."""

EXTRACTION_RUNTIMES = ("auto", "torch", "onnx")  # engines for feature extraction
RUNTIMES = (*EXTRACTION_RUNTIMES, "int8")  # engines for a model bundle (int8 needs calibration)
