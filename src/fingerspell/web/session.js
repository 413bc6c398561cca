// One stream's spelling in the browser (issue 25, the on-device page): the J/Z motion tracker
// (live/motion.py) and what LiveSession.feed (live/stream.py) does with each frame's answer,
// around the decoder (decoder.js). tests/test_web_parity.py replays the answers recorded from
// the shared clips (J and Z included) through both sides and asks for the same events.

import { SpellingDecoder } from "./decoder.js";
import { palmOrientation, shapePoints } from "./recognizer.js";

const WRIST = 0;
const MIDDLE_MCP = 9;
const INDEX_TIP = 8;
const PINKY_TIP = 20;
// (tip, pip) per finger: extended when the tip is farther from the wrist than the middle joint
const FINGERS = { index: [8, 6], middle: [12, 10], ring: [16, 14], pinky: [20, 18] };
// the handshape each motion starts from, and the fingertip that draws it
const STARTS = { J: ["pinky", PINKY_TIP], Z: ["index", INDEX_TIP] };
export const MOTION_LETTERS = ["J", "Z"];
// what a motionless frame of a motion letter shows (LiveSession: STILL_SHAPES)
const STILL_SHAPES = { J: "I", Z: null };
const ROUTE_NO_HAND_NOTHING = "no hand: nothing";

export const MOTION_SETTINGS = Object.freeze({
  window_seconds: 1.0, max_gap_seconds: 0.25, min_hold_frames: 3, min_twist_degrees: 30.0,
  min_drop: 0.8, confirm_frames: 2, min_stroke: 1.0, min_back: 0.5,
});

const planar = (a, b) => Math.sqrt((a[0] - b[0]) ** 2 + (a[1] - b[1]) ** 2);

// The fingers whose tip lies well beyond their middle joint, seen from the wrist, as one
// sorted name ("index", "pinky", "index+middle", ...): motion.extended_fingers.
function extendedFingers(points) {
  const wrist = points[WRIST];
  return Object.entries(FINGERS)
    .filter(([, [tip, pip]]) => planar(points[tip], wrist) > 1.15 * planar(points[pip], wrist))
    .map(([name]) => name).sort().join("+");
}

export class MotionTracker {
  constructor(settings = {}) {
    this.settings = { ...MOTION_SETTINGS, ...settings };
    this.samples = [];
    this.anchorT = null; // when the last motion's starting hold was seen
  }

  // One frame (hand: {landmarks, aspect, handedness} or null); "J" or "Z" when drawn.
  update(t, hand) {
    const s = this.settings;
    if (this.samples.length && t - this.samples[this.samples.length - 1].t > s.max_gap_seconds) {
      this.samples = []; // the hand was gone: a new motion starts afresh
    }
    if (hand === null) return null;
    const points = shapePoints(hand.landmarks, hand.aspect);
    const palm = planar(points[MIDDLE_MCP], points[WRIST]);
    this.samples.push({ t, points, handedness: hand.handedness, palm: Math.max(palm, 1e-6),
      normal: palmOrientation(points, hand.handedness)[2], shape: extendedFingers(points) });
    while (this.samples.length && this.samples[0].t < t - s.window_seconds) this.samples.shift();
    for (const letter of MOTION_LETTERS) {
      const anchor = this.anchor(letter);
      if (anchor !== null && this.drawn(letter, anchor)) {
        this.anchorT = this.samples[anchor].t;
        this.samples = [];
        return letter;
      }
    }
    return null;
  }

  anchor(letter) {
    const [shape] = STARTS[letter];
    let run = 0;
    for (let i = 0; i < this.samples.length; i++) {
      run = this.samples[i].shape === shape ? run + 1 : 0;
      if (run >= this.settings.min_hold_frames) return i;
    }
    return null;
  }

  drawn(letter, anchor) {
    const start = this.samples[anchor];
    const tip = STARTS[letter][1];
    const after = this.samples.slice(anchor + 1).filter((s) => s.handedness === start.handedness
      && s.palm / start.palm >= 0.5 && s.palm / start.palm <= 2.0);
    const moves = after.map((s) => [(s.points[tip][0] - start.points[tip][0]) / start.palm,
      (s.points[tip][1] - start.points[tip][1]) / start.palm]);
    if (letter === "J") {
      let run = 0;
      for (let i = 0; i < after.length; i++) {
        const n = after[i].normal;
        const cos = n[0] * start.normal[0] + n[1] * start.normal[1] + n[2] * start.normal[2];
        const twist = (Math.acos(Math.min(1, Math.max(-1, cos))) * 180) / Math.PI;
        const ok = twist >= this.settings.min_twist_degrees && moves[i][1] >= this.settings.min_drop;
        run = ok ? run + 1 : 0;
        if (run >= this.settings.confirm_frames) return true;
      }
      return false;
    }
    return isZ(moves, this.settings);
  }
}

// A sideways stroke, then back and down: the first two strokes of a Z, either way round.
function isZ(moves, s) {
  for (let k = 0; k < moves.length; k++) {
    const [dx1, dy1] = moves[k];
    if (Math.abs(dx1) < s.min_stroke || Math.abs(dy1) > 0.6 * Math.abs(dx1)) continue;
    for (const m of moves.slice(k + 1)) {
      const dx2 = m[0] - dx1;
      const dy2 = m[1] - dy1;
      if (Math.sign(dx2) === -Math.sign(dx1) && Math.abs(dx2) >= s.min_back
          && dy2 >= s.min_drop) return true;
    }
  }
  return false;
}

// Frames' answers -> text, as LiveSession.feed: motion letters from the tracker, the decoder on
// the rest with the motion letters' pose scores given to their handshapes. classes: the model's;
// usesHands: the model finds hands (no hand then means "nothing held").
export class LiveSpelling {
  constructor({ classes, unsureBelow = 0, usesHands = true, decoder = {}, motion = true }) {
    this.decoder = new SpellingDecoder(decoder);
    const known = new Set(classes.map((c) => c.toUpperCase()));
    this.withMotion = motion && usesHands && MOTION_LETTERS.every((m) => known.has(m));
    this.motion = this.withMotion ? new MotionTracker() : null;
    const byLetter = Object.fromEntries(classes.map((c) => [c.toUpperCase(), c]));
    this.stillShapes = {};
    for (const [m, shape] of Object.entries(STILL_SHAPES)) {
      if (m in byLetter) this.stillShapes[byLetter[m]] = shape === null ? null : (byLetter[shape] ?? null);
    }
    this.usesHands = usesHands;
    this.unsureBelow = unsureBelow;
  }

  get text() {
    return this.decoder.text;
  }

  // prediction: {label, confidence, top_k: [[label, p], ...], route, hand: {landmarks, aspect,
  // handedness} | null}. Returns the events this frame caused.
  feed(t, prediction) {
    const { hand } = prediction;
    const events = [];
    let motion = null;
    let scores = Object.fromEntries(prediction.top_k);
    let answer = prediction;
    if (this.motion !== null) {
      motion = this.motion.update(t, hand);
      if (motion) events.push(...this.decoder.commitMotion(t, motion, this.motion.anchorT));
      scores = this.stillScores(prediction);
      answer = this.asStill(prediction, scores);
    }
    if (!motion) {
      const noHand = answer.route === ROUTE_NO_HAND_NOTHING || (hand === null && this.usesHands);
      const points = hand === null ? null : shapePoints(hand.landmarks, hand.aspect);
      events.push(...this.decoder.update(t, noHand ? null : answer.label, answer.confidence,
        points, scores));
    }
    return events;
  }

  stillScores(prediction) {
    const scores = {};
    for (const [label, p] of prediction.top_k) {
      const target = label in this.stillShapes ? this.stillShapes[label] : label;
      if (target !== null) scores[target] = (scores[target] ?? 0) + p;
    }
    return scores;
  }

  asStill(prediction, scores) {
    const labels = Object.keys(scores);
    if (prediction.hand === null || !labels.length) return prediction;
    const label = labels.reduce((best, l) => (scores[l] > scores[best] ? l : best), labels[0]);
    return { ...prediction, label, confidence: scores[label],
      unsure: scores[label] < this.unsureBelow };
  }
}
