// The model on the device (the on-device page): a frame -> the signing hand (detect.js, with
// MediaPipe's hand landmarker) -> the crop around it through the crop graph (ONNX Runtime Web:
// its backbone features), the crop head and the landmark encoding through the landmark head
// (recognizer.js) -> the fused, calibrated answer, shaped as Python's Prediction (label,
// confidence, unsure, top_k, route, hand).
// Python's path: Model.predict_images with a stream's HandDetector (infer/model.py). The heads
// run here in JavaScript (recognizer.js), so Teach can adapt them (adapt.js).

import { FilesetResolver, HandLandmarker } from "./vendor/tasks-vision/vision_bundle.mjs";
import * as ort from "./vendor/onnxruntime-web/ort.wasm.min.mjs";
import { HandFinder, pyRound, sourceSize } from "./detect.js";
import {
  calibratedProbabilities, fusedProbabilities, headLogits, landmarkFeatures, shapePoints,
} from "./recognizer.js";

export const ROUTE_HAND = "hand";
export const ROUTE_NO_HAND_NOTHING = "no hand: nothing";
export const ROUTE_NO_HAND_WHOLE_IMAGE = "no hand: whole image";

const round6 = (p) => Math.round(p * 1e6) / 1e6; // Prediction's top_k, as Python rounds it

// Hand.crop_box: a square pixel box around the hand, `margin` of its size on each side.
export function cropBox(hand, width, height, margin) {
  const xs = hand.landmarks.map((p) => p[0]);
  const ys = hand.landmarks.map((p) => p[1]);
  const [left, top, right, bottom] = [Math.min(...xs), Math.min(...ys), Math.max(...xs),
    Math.max(...ys)];
  const cx = ((left + right) / 2) * width;
  const cy = ((top + bottom) / 2) * height;
  const side = Math.max((right - left) * width, (bottom - top) * height, 8) * (1 + 2 * margin);
  const half = side / 2;
  return [pyRound(cx - half), pyRound(cy - half), pyRound(cx + half), pyRound(cy + half)];
}

// The crop graph's input: the hand's box (black beyond the frame, mirrored for a left hand:
// hand_crop), or the whole frame without a hand, scaled as Preprocessing does (short side to
// size / crop_pct, centre crop) into RGB in [0, 1], channels first.
export function cropPixels(source, hand, crop, margin) {
  const [width, height] = sourceSize(source);
  const [left, top, right, bottom] = hand ? cropBox(hand, width, height, margin)
    : [0, 0, width, height];
  const [boxW, boxH] = [right - left, bottom - top];
  const scale = pyRound(crop.size / crop.crop_pct) / Math.min(boxW, boxH);
  const scaledW = Math.max(crop.size, pyRound(boxW * scale));
  const scaledH = Math.max(crop.size, pyRound(boxH * scale));
  // the centre crop of the scaled box, in the frame's pixels
  const [perX, perY] = [boxW / scaledW, boxH / scaledH];
  const sx = left + Math.floor((scaledW - crop.size) / 2) * perX;
  const sy = top + Math.floor((scaledH - crop.size) / 2) * perY;
  const out = new OffscreenCanvas(crop.size, crop.size);
  const ctx = out.getContext("2d", { willReadFrequently: true });
  ctx.fillStyle = "black";
  ctx.fillRect(0, 0, crop.size, crop.size);
  ctx.imageSmoothingQuality = "high";
  if (hand && hand.handedness === "Left") ctx.setTransform(-1, 0, 0, 1, crop.size, 0);
  // drawImage clips a box that leaves the frame and draws the rest where it belongs
  ctx.drawImage(source, sx, sy, crop.size * perX, crop.size * perY, 0, 0, crop.size, crop.size);
  const px = ctx.getImageData(0, 0, crop.size, crop.size).data;
  const plane = crop.size * crop.size;
  const chw = new Float32Array(3 * plane);
  for (let i = 0; i < plane; i++) {
    chw[i] = px[4 * i] / 255;
    chw[plane + i] = px[4 * i + 1] / 255;
    chw[2 * plane + i] = px[4 * i + 2] / 255;
  }
  return chw;
}

export class Recognizer {
  // config: the site's model.json; finder: a HandFinder; session: the crop graph's ORT session
  constructor(config, finder, session) {
    this.config = config;
    this.finder = finder;
    this.session = session;
    this.classes = config.classes;
    this.nothing = this.classes.findIndex((c) => c.toLowerCase() === "nothing");
    this.useHeads(null);
  }

  // Everything loaded from the site's folder (`base`: its URL).
  static async load(base = ".", { passesPerFrame } = {}) {
    const config = await (await fetch(`${base}/model.json`)).json();
    const fileset = await FilesetResolver.forVisionTasks(`${base}/vendor/tasks-vision/wasm`);
    const landmarker = await HandLandmarker.createFromOptions(fileset, {
      baseOptions: { modelAssetPath: `${base}/${config.hand.model}`, delegate: "CPU" },
      runningMode: "IMAGE", numHands: 2,
      minHandDetectionConfidence: config.hand.min_confidence,
    });
    let session = null;
    if (config.crop) {
      ort.env.wasm.wasmPaths = new URL(`${base}/vendor/onnxruntime-web/`, location.href).href;
      // threads need a cross-origin-isolated page (COOP/COEP headers); a plain host gets one
      ort.env.wasm.numThreads = self.crossOriginIsolated
        ? Math.min(4, navigator.hardwareConcurrency || 1) : 1;
      session = await ort.InferenceSession.create(`${base}/${config.crop.graph}`,
        { executionProviders: ["wasm"] });
    }
    const finder = new HandFinder(landmarker, config.hand,
      passesPerFrame === undefined ? {} : { passesPerFrame });
    return new Recognizer(config, finder, session);
  }

  // The crop's backbone features (the graph), for the crop head and for Teach.
  async cropFeatures(source, hand) {
    const { size } = this.config.crop;
    const pixels = cropPixels(source, hand, this.config.crop, this.config.hand.margin);
    const feeds = { images: new ort.Tensor("float32", pixels, [1, 3, size, size]) };
    const out = await this.session.run(feeds);
    return Float32Array.from(out.features.data);
  }

  // Answer with adapted heads ({crop_head, landmark_head, landmark_weight}: Teach, an imported
  // adapter), or with the model's own (null).
  useHeads(adapted) {
    this.heads = adapted ?? { crop_head: this.config.crop_head,
      landmark_head: this.config.landmark_head, landmark_weight: this.config.landmark_weight };
  }

  // The answer for one frame (or photo): Python's Prediction as a plain object, with `probs`.
  // `whole`: without a hand, answer from the whole frame as predict does (a stream needn't:
  // its decoder reads no letter without a hand).
  async recognize(source, { whole = true } = {}) {
    const hand = this.finder.find(source);
    const c = this.config;
    const h = this.heads;
    let probs;
    let features = null; // what Teach keeps of a frame with a hand
    let route = ROUTE_HAND;
    if (hand !== null) {
      const points = c.landmark_encoding >= 2 ? shapePoints(hand.landmarks, hand.aspect)
        : hand.landmarks;
      const marks = landmarkFeatures(points, hand.handedness, c.landmark_encoding);
      const markLogits = headLogits(h.landmark_head, marks);
      if (this.session) {
        const crop = await this.cropFeatures(source, hand);
        features = { crop, marks };
        probs = fusedProbabilities(headLogits(h.crop_head, crop), markLogits, h.landmark_weight,
          c.temperature);
      } else {
        features = { crop: null, marks };
        probs = calibratedProbabilities(markLogits, c.temperature);
      }
    } else if (!this.session || !whole) {
      // no hand: "nothing" (a landmarks model's answer; the site refuses one without that class)
      route = ROUTE_NO_HAND_NOTHING;
      probs = this.classes.map((_, i) => (i === this.nothing ? 1 : 0));
    } else {
      route = ROUTE_NO_HAND_WHOLE_IMAGE;
      const crop = await this.cropFeatures(source, null);
      probs = fusedProbabilities(headLogits(h.crop_head, crop), null, h.landmark_weight,
        c.temperature);
    }
    const order = probs.map((p, i) => [p, i]).sort((a, b) => b[0] - a[0] || a[1] - b[1]);
    const topK = order.slice(0, c.top_k).map(([p, i]) => [this.classes[i], round6(p)]);
    return { label: topK[0][0], confidence: topK[0][1], unsure: topK[0][1] < c.unsure_below,
      top_k: topK, route, hand, probs, features };
  }
}
