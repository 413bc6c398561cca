"""fingerspell: recognise the ASL manual alphabet by transfer learning.

Example:
    >>> import fingerspell
    >>> result = fingerspell.train("asl_alphabet_train", "runs/demo")   # doctest: +SKIP
    >>> model = fingerspell.Model.load("runs/demo/model")              # doctest: +SKIP
    >>> predictions, failed = model.predict(["hand.jpg"])             # doctest: +SKIP
"""

__version__ = "0.1.0"

# Eager on purpose: `train` and `evaluate` are also subpackage names, and a lazy attribute would
# be shadowed by the subpackage once it is imported. The price: importing costs PyTorch's start-up.
from .errors import FingerspellError, ImageError
from .evaluate.run import evaluate
from .infer.model import Model
from .train.trainer import train

__all__ = ["FingerspellError", "ImageError", "Model", "__version__", "evaluate", "train"]
