"""``fingerspell inspect``: why did the model choose this letter?

One PNG per image: the photo with the hand's landmarks and box, what the backbone saw (the
crop or the whole photo), a Grad-CAM heat map of where the backbone looked, and the top-5
letters. A model that looks at the wall instead of the hand shows it at once.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from ..data.images import load_rgb
from ..errors import FingerspellError, ImageError
from ..features.crops import hand_crop
from ..features.modes import assemble
from ..figures import save_png, subplots
from .model import Model
from .prediction import Prediction, draw_answer


@dataclass
class Inspection:
    prediction: Prediction
    picture: Path
    grad_cam: bool  # False for landmark models and backbones without a spatial feature map


def grad_cam(model: Model, seen: Image.Image, tail: np.ndarray | None, class_index: int,
             *, raw: bool = False) -> np.ndarray | None:
    """Grad-CAM (Selvaraju et al., 2017) on the backbone's last spatial feature map for
    ``class_index``; ``tail`` is the rest of the head's input (landmark part of fusion).
    Returns an (h, w) map in [0, 1] (``raw``: the gradient-weighted sum before ReLU and
    scaling), or None when the backbone has no spatial map (ViTs)."""
    activations: list[torch.Tensor] = []

    def keep(_module: torch.nn.Module, _inputs: object, output: object) -> None:
        if isinstance(output, torch.Tensor) and output.ndim == 4 and output.shape[-1] > 1:
            activations.append(output)

    net = model.backbone.net
    hooks = [m.register_forward_hook(keep) for m in net.modules() if not list(m.children())]
    try:
        with torch.enable_grad():
            pixels = torch.from_numpy(model.preprocessing(seen))[None].to(model.device)
            pixels.requires_grad_(True)  # the weights are frozen: the graph hangs on the input
            features = model.backbone(pixels)
            if not activations:
                return None
            target = activations[-1]
            target.retain_grad()
            if tail is not None:
                features = torch.cat([features, torch.from_numpy(tail)[None].to(features)], 1)
            model.head.eval()(features)[0, class_index].backward()
    finally:
        for hook in hooks:
            hook.remove()
    if target.grad is None:
        return None
    weights = target.grad.mean(dim=(2, 3), keepdim=True)
    weighted = (weights * target).sum(1)[0].detach().float().cpu().numpy()
    if raw:
        return weighted
    cam = np.maximum(weighted, 0)
    return cam / cam.max() if cam.max() > 0 else cam


def inspect_image(model: Model, image_path: str | Path, out: str | Path, top_k: int = 5
                  ) -> Inspection:
    """Predict ``image_path`` and draw why into the PNG ``out``."""
    image_path = Path(image_path)
    predictions = model.predict([image_path], top_k=top_k)
    failed = predictions.failed
    if failed:
        raise FingerspellError(f"{image_path}: {failed[str(image_path)]}")
    prediction = predictions[0]
    try:
        image = load_rgb(image_path)
    except ImageError as exc:
        raise FingerspellError(str(exc)) from None
    hand = prediction.hand
    mode = model.mode
    seen = (hand_crop(image, hand, model.hand_settings.margin) if mode.backbone_input == "crop"
            else image)
    cam = None
    if mode.uses_backbone:
        tail = None
        if mode.landmarks or mode.found_flag:  # the head's other inputs: landmarks, found flag
            tail = assemble(mode, np.zeros((1, 0), np.float32), [hand])[0]
        cam = grad_cam(model, seen, tail, model.classes.index(prediction.label))

    picture = _draw(model, image_path, image, seen, cam, prediction, Path(out))
    return Inspection(prediction, picture, cam is not None)


def _draw(model: Model, image_path: Path, image: Image.Image, seen: Image.Image,
          cam: np.ndarray | None, prediction: Prediction, out: Path) -> Path:
    """Four panels: the photo with the hand drawn, what the backbone saw, the Grad-CAM heat map
    over it, and the top answers."""
    mode, hand = model.mode, prediction.hand
    fig, axes = subplots(1, 4, figsize=(16, 4.4))
    for ax in axes:
        ax.axis("off")
    photo = np.array(image)
    draw_answer(photo, hand, "", margin=model.hand_settings.margin)
    axes[0].imshow(photo)
    axes[0].set_title(f"{hand.handedness.lower()} hand ({hand.n_hands} in view)" if hand
                      else "no hand found" if mode.needs_hands else "photo")
    axes[1].imshow(seen)
    axes[1].set_title("backbone input" if mode.uses_backbone else "photo (landmarks only)")
    if cam is not None:
        axes[2].imshow(seen)
        heat = np.asarray(Image.fromarray(np.uint8(cam * 255)).resize(seen.size,
                                                                     Image.Resampling.BILINEAR))
        axes[2].imshow(heat, cmap="jet", alpha=0.45)
        axes[2].set_title(f"Grad-CAM for {prediction.label}")
    else:
        axes[2].text(0.5, 0.5, "no Grad-CAM:\n" + ("landmark features" if not mode.uses_backbone
                                                   else "backbone has no spatial map"),
                     ha="center", va="center")
    labels = [label for label, _ in prediction.top_k][::-1]
    scores = [p for _, p in prediction.top_k][::-1]
    axes[3].axis("on")
    axes[3].barh(labels, scores, color=["tab:blue"] * (len(labels) - 1) + ["tab:green"])
    axes[3].set_xlim(0, 1)
    axes[3].set_title(f"top {len(labels)} ({prediction.route})")
    fig.suptitle(f"{image_path.name}: {prediction.label} ({prediction.confidence:.0%}), "
                 f"{mode.name} features")
    return save_png(fig, out)
