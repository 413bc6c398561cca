// The recognizer's arithmetic in the browser (issue 25, the on-device page): MediaPipe's 21 hand
// landmarks -> the landmark encoding -> the landmark head (an MLP), fused with the crop head's
// answer -> calibrated probabilities. The same arithmetic as Python's features/landmarks.py
// (encodings 1 and 2), head/heads.py (MLPHead, LateFusionHead) and Model.head_proba;
// tests/test_web_parity.py runs both on the same inputs in headless Chromium and asks for
// agreement to 1e-4. Change one side, change the other.

export const WRIST = 0;
export const INDEX_MCP = 5;
export const MIDDLE_MCP = 9;
export const PINKY_MCP = 17;
export const FINGERTIPS = [4, 8, 12, 16, 20];
// MediaPipe's hand skeleton: PARENT[i] is the landmark that bone i hangs from.
export const PARENT = [0, 0, 1, 2, 3, 0, 5, 6, 7, 0, 9, 10, 11, 0, 13, 14, 15, 0, 17, 18, 19];
export const BONES = PARENT.slice(1).map((parent, i) => [parent, i + 1]);
// Joints whose flexion is measured: (bone into the joint, bone out of it), three per finger.
export const JOINTS = [];
for (let j = 1; j < 20; j++) if (PARENT[j + 1] === j) JOINTS.push([j - 1, j]);

const sub = (a, b) => a.map((v, i) => v - b[i]);
const dot = (a, b) => a.reduce((sum, v, i) => sum + v * b[i], 0);
const norm = (a) => Math.sqrt(dot(a, a));
const cross = (a, b) => [a[1] * b[2] - a[2] * b[1], a[2] * b[0] - a[0] * b[2],
  a[0] * b[1] - a[1] * b[0]];
const isLeft = (handedness) => handedness.toLowerCase().startsWith("left");

export function landmarkDim(encoding = 2) {
  if (encoding !== 1 && encoding !== 2) throw new Error(`unknown landmark encoding ${encoding}`);
  return 21 * 3 + BONES.length * 3 + JOINTS.length + 15 + (encoding >= 2 ? 9 : 0);
}

// The landmarks in one unit on every axis (the image's height): Hand.shape_points.
export function shapePoints(landmarks, aspect) {
  return landmarks.map(([x, y, z]) => [x * aspect, y, z * aspect]);
}

// Invariant to position, scale, in-plane rotation and handedness: normalize_landmarks.
export function normalizeLandmarks(points, handedness = "Right") {
  const wrist = points[WRIST];
  let p = points.map((point) => sub(point, wrist));
  if (isLeft(handedness)) p = p.map(([x, y, z]) => [-x, y, z]);
  const up = p[MIDDLE_MCP];
  const angle = -Math.atan2(up[0], -up[1]); // image y grows downwards: "up" is (0, -1)
  const cos = Math.cos(angle);
  const sin = Math.sin(angle);
  p = p.map(([x, y, z]) => [x * cos - y * sin, x * sin + y * cos, z]);
  const palm = Math.max(norm(p[MIDDLE_MCP]), 1e-6);
  return p.map((point) => point.map((v) => Math.fround(v / palm))); // float32, as Python
}

// The palm's axes in the camera's frame, one per row: palm_orientation.
export function palmOrientation(points, handedness = "Right") {
  const wrist = points[WRIST];
  let p = points.map((point) => sub(point, wrist));
  if (isLeft(handedness)) p = p.map(([x, y, z]) => [-x, y, z]);
  const up = p[MIDDLE_MCP].map((v) => v / Math.max(norm(p[MIDDLE_MCP]), 1e-9));
  let across = sub(p[INDEX_MCP], p[PINKY_MCP]);
  const along = dot(across, up);
  across = across.map((v, i) => v - up[i] * along);
  const length = Math.max(norm(across), 1e-9);
  across = across.map((v) => v / length);
  return [across, up, cross(across, up)];
}

// landmark_features: coordinates, unit bone directions, joint flexion, wrist/fingertip
// distances and (encoding 2) the palm's orientation. points: shapePoints(...) for encoding 2,
// MediaPipe's image-normalised landmarks for encoding 1.
export function landmarkFeatures(points, handedness = "Right", encoding = 2) {
  landmarkDim(encoding);
  const normalized = normalizeLandmarks(points, handedness);
  const directions = BONES.map(([parent, child]) => {
    const bone = sub(normalized[child], normalized[parent]);
    const length = Math.max(norm(bone), 1e-6);
    return bone.map((v) => v / length);
  });
  const flexion = JOINTS.map(([a, b]) =>
    Math.acos(Math.min(1, Math.max(-1, dot(directions[a], directions[b])))));
  const keys = [WRIST, ...FINGERTIPS].map((i) => normalized[i]);
  const distances = [];
  for (let i = 0; i < keys.length; i++) {
    for (let j = i + 1; j < keys.length; j++) distances.push(norm(sub(keys[i], keys[j])));
  }
  const parts = [...normalized.flat(), ...directions.flat(), ...flexion, ...distances];
  if (encoding >= 2) parts.push(...palmOrientation(points, handedness).flat());
  return Float32Array.from(parts);
}

// An MLPHead at inference: standardise (if it learnt to), Linear -> ReLU per hidden layer,
// the last Linear; returns the logits. head: {normalize, mean, std, layers: [{weight, bias}]}
// with weight as rows of the output (PyTorch's layout), as infer/web.head_to_json writes it.
export function headLogits(head, features) {
  let x = Array.from(features);
  if (head.normalize) x = x.map((v, i) => (v - head.mean[i]) / head.std[i]);
  head.layers.forEach((layer, k) => {
    const out = layer.weight.map((row, o) => layer.bias[o] + dot(row, x));
    x = k < head.layers.length - 1 ? out.map((v) => Math.max(0, v)) : out;
  });
  return x;
}

// Softmax of logits / temperature: the model's calibrated probabilities.
export function calibratedProbabilities(logits, temperature = 1) {
  const scaled = logits.map((v) => v / temperature);
  const top = Math.max(...scaled);
  const exps = scaled.map((v) => Math.exp(v - top));
  const total = exps.reduce((a, b) => a + b, 0);
  return exps.map((v) => v / total);
}

const softmax = (logits) => calibratedProbabilities(logits, 1);

// A fusion model's answer (LateFusionHead, then the model's temperature): where a hand was found
// (markLogits given) the landmark head's probabilities weigh landmarkWeight against the crop
// head's, else the crop head answers alone.
export function fusedProbabilities(cropLogits, markLogits, landmarkWeight, temperature = 1) {
  const crop = softmax(cropLogits);
  const mixed = markLogits === null ? crop : softmax(markLogits).map(
    (p, i) => landmarkWeight * p + (1 - landmarkWeight) * crop[i]);
  return calibratedProbabilities(mixed.map((p) => Math.log(Math.max(p, 1e-12))), temperature);
}
