// Frames -> spelled text in the browser (issue 25, the on-device page): Python's
// live/decoder.py (SpellingDecoder) rule for rule, so the page spells what `fingerspell live`
// spells from the same answers. tests/test_web_parity.py feeds both the same frames (recorded
// from the shared letter clips, and random streams that reach every rule) and asks for the
// same events. The rules and their reasons are in decoder.py's docstring; change both sides.
// Word completion (live/words.py) is WordList below: settings.words = new WordList([...]).

const RESET_LABELS = new Set(["nothing"]);
const SPACE_LABELS = new Set(["space"]);
const DELETE_LABELS = new Set(["del", "delete"]);
const GLITCH_PALM = 0.7; // a palm this much shorter than the window's median: misplaced landmarks
const WRIST = 0;
const MIDDLE_MCP = 9;

// A finished word becomes the nearest listed word within reach (live/words.py, WordList):
// one edit for words of up to four letters, two for longer; earlier in the list wins ties.
export class WordList {
  constructor(words) {
    this.words = [...new Set(words.map((w) => w.trim().toUpperCase())
      .filter((w) => /^[A-Z]+$/.test(w)))];
    this.index = new Set(this.words);
  }

  correct(word) {
    if (!word || this.index.has(word)) return word;
    const reach = word.length <= 4 ? 1 : 2;
    let best = word;
    let bestEdits = reach + 1;
    for (const candidate of this.words) {
      if (Math.abs(candidate.length - word.length) > reach) continue;
      const edits = editsUpTo(candidate, word, reach);
      if (edits < bestEdits) {
        best = candidate;
        bestEdits = edits;
        if (edits === 1) break; // nothing nearer exists; earlier wins ties
      }
    }
    return best;
  }
}

// Levenshtein distance, or limit + 1 as soon as it must exceed limit.
function editsUpTo(a, b, limit) {
  const row = [...Array(b.length + 1).keys()];
  for (let i = 1; i <= a.length; i++) {
    let previous = row[0];
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const here = Math.min(row[j] + 1, row[j - 1] + 1, previous + (a[i - 1] !== b[j - 1] ? 1 : 0));
      previous = row[j];
      row[j] = here;
    }
    if (Math.min(...row) > limit) return limit + 1;
  }
  return Math.min(row[b.length], limit + 1);
}

export const DEFAULT_SETTINGS = Object.freeze({
  hold_seconds: 0.5, min_confidence: 0.5, stability: 0.7,
  long_hold_seconds: 1.5, long_hold_min_confidence: 0.2, long_hold_stability: 0.8,
  settle_seconds: 0.25, settled_speed: 3.0,
  still_seconds: 0.5, still_min_confidence: 0.25, still_stability: 0.9,
  quick_seconds: 0.2, quick_min_confidence: 0.7,
  switch_margin: 0.2, release_seconds: 0.3, movement: 0.6, movement_seconds: 0.4,
  words: null, word_pause_seconds: 1.0,
});

// numpy's arithmetic, so that a threshold compares the same number on both sides:
// np.linalg.norm of a 2-vector, and np.mean's pairwise sum (eight running sums, n <= 128).
const distance = (a, b) => Math.sqrt((a[0] - b[0]) ** 2 + (a[1] - b[1]) ** 2);
function numpyMean(values) {
  const n = values.length;
  let total = 0;
  if (n < 8) {
    for (const v of values) total += v;
    return total / n;
  }
  const r = values.slice(0, 8);
  let i = 8;
  for (; i < n - (n % 8); i += 8) for (let j = 0; j < 8; j++) r[j] += values[i + j];
  total = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]));
  for (; i < n; i++) total += values[i];
  return total / n;
}
const lowerMedian = (sorted) => sorted[Math.floor((sorted.length - 1) / 2)];
const upperMedian = (sorted) => sorted[Math.floor(sorted.length / 2)];

export class SpellingDecoder {
  constructor(settings = {}) {
    this.settings = { ...DEFAULT_SETTINGS, ...settings };
    this.reset();
  }

  // Start over (the page's Clear button).
  reset(text = "") {
    this.text = text;
    this.events = [];
    this.window = []; // {t, letter, confidence, scores}
    this.lastCommitted = null;
    this.releasedSince = null; // start of the current hand-free stretch
    this.wrists = []; // [t, x, y, palm]
    this.moved = false;
    this.movedAt = 0.0;
    this.poses = []; // [t, points, palm]
    this.speeds = []; // [t, speed]
    this.settledSince = null;
  }

  tiers() {
    const s = this.settings;
    return [[s.quick_seconds, s.quick_min_confidence, 1.0, true],
      [s.hold_seconds, s.min_confidence, s.stability, false],
      [s.still_seconds, s.still_min_confidence, s.still_stability, true],
      [s.long_hold_seconds, s.long_hold_min_confidence, s.long_hold_stability, false],
    ].filter((tier) => tier[0] > 0);
  }

  // One frame: its time, the letter (null: no hand), the confidence, the hand's 21 landmarks
  // in one unit on both axes (or null) and the top letters' probabilities. Returns its events.
  update(t, letter, confidence = 1.0, points = null, scores = null) {
    if (letter === null || RESET_LABELS.has(letter.toLowerCase())) {
      this.window = [];
      this.poses = [];
      this.speeds = [];
      this.settledSince = null;
      if (this.releasedSince === null) this.releasedSince = t;
      else if (t - this.releasedSince >= this.settings.release_seconds) this.lastCommitted = null;
      if (this.settings.words !== null && this.text && !this.text.endsWith(" ")
          && t - this.releasedSince >= this.settings.word_pause_seconds) {
        this.events.push(this.endWord(t));
        return [this.events[this.events.length - 1]];
      }
      return [];
    }
    this.releasedSince = null;
    if (points !== null) {
      const flat = points.map((p) => [p[0], p[1]]);
      this.trackSpeed(t, flat);
      this.trackMovement(t, flat);
    }
    this.window.push({ t, letter, confidence, scores: { ...(scores || {}) } });
    const kept = Math.max(...this.tiers().map((tier) => tier[0]));
    while (this.window.length && this.window[0].t < t - kept) this.window.shift();
    const held = this.held(t, points !== null);
    if (held === null || (held === this.lastCommitted && !this.moved)) return [];
    return [this.commit(t, held)];
  }

  // The stream ended: with a word list, the last word is completed as if the hand had been
  // lowered.
  finish(t) {
    if (this.settings.words === null || !this.text || this.text.endsWith(" ")) return [];
    this.events.push(this.endWord(t));
    return [this.events[this.events.length - 1]];
  }

  // A letter recognised from motion (J, Z): committed at once; a letter committed from the
  // hold the motion began with (at `since`) is taken back first.
  commitMotion(t, letter, since = null) {
    this.window = [];
    const last = this.events.length ? this.events[this.events.length - 1] : null;
    const events = [];
    if (since !== null && last !== null && last.event === "letter" && last.t >= since) {
      events.push(this.commit(t, "del")); // as if the signer had signed del
    }
    events.push(this.commit(t, letter));
    return events;
  }

  held(t, hasPoints) {
    let settledFor;
    if (this.moved) settledFor = t - this.movedAt;
    else if (hasPoints && this.settledSince === null) return null;
    else settledFor = this.settledSince !== null ? t - this.settledSince : -1.0;
    for (const [seconds, minConfidence, stability, needsSettled] of this.tiers()) {
      if (needsSettled && settledFor + this.spacing() < seconds) continue;
      const held = this.heldFor(seconds, minConfidence, stability);
      if (held !== null && this.beatsLast(held, seconds)) return held;
    }
    return null;
  }

  spacing() {
    const n = this.window.length;
    return n > 1 ? this.window[n - 1].t - this.window[n - 2].t : 0.0;
  }

  heldFor(seconds, minConfidence, stability) {
    const last = this.window[this.window.length - 1];
    const frames = this.window.filter((f) => f.t >= last.t - seconds);
    const spacing = (last.t - frames[0].t) / Math.max(1, frames.length - 1);
    if (last.t - frames[0].t + spacing < seconds || last.confidence < minConfidence) return null;
    const agreeing = frames.filter((f) => f.letter === last.letter
      && f.confidence >= minConfidence).length;
    return agreeing >= stability * frames.length ? last.letter : null;
  }

  beatsLast(letter, seconds) {
    const last = this.lastCommitted;
    if (last === null || last === letter || this.moved) return true;
    const end = this.window[this.window.length - 1].t;
    const frames = this.window.filter((f) => f.t >= end - seconds);
    const probability = (f, label) => (label in f.scores ? f.scores[label]
      : (label === f.letter ? f.confidence : 0.0));
    let margin = 0;
    for (const f of frames) margin += probability(f, letter) - probability(f, last);
    return margin / frames.length >= this.settings.switch_margin;
  }

  trackSpeed(t, points) {
    const palm = distance(points[MIDDLE_MCP], points[WRIST]);
    const palms = this.poses.map((pose) => pose[2]).sort((a, b) => a - b);
    if (palm <= 0 || (palms.length && palm < GLITCH_PALM * upperMedian(palms))) return;
    if (this.poses.length) {
      const [beforeT, before, beforePalm] = this.poses[this.poses.length - 1];
      if (t > beforeT) {
        const scale = (palm + beforePalm) / 2;
        const moved = numpyMean(points.map((p, i) => distance(p, before[i])));
        this.speeds.push([t, moved / scale / (t - beforeT)]);
      }
    }
    this.poses.push([t, points, palm]);
    const window = this.settings.settle_seconds;
    while (this.poses.length && this.poses[0][0] < t - window) this.poses.shift();
    while (this.speeds.length && this.speeds[0][0] < t - window) this.speeds.shift();
    const speeds = this.speeds.map((s) => s[1]).sort((a, b) => a - b);
    const settled = speeds.length >= 2 && lowerMedian(speeds) <= this.settings.settled_speed;
    if (!settled) this.settledSince = null;
    else if (this.settledSince === null) this.settledSince = t;
  }

  trackMovement(t, points) {
    const wrist = points[WRIST];
    const palm = distance(points[MIDDLE_MCP], wrist);
    if (palm <= 0) return;
    while (this.wrists.length && this.wrists[0][0] < t - this.settings.movement_seconds) {
      this.wrists.shift();
    }
    let palms = this.wrists.map((w) => w[3]).sort((a, b) => a - b);
    if (palms.length && palm < GLITCH_PALM * upperMedian(palms)) return;
    this.wrists.push([t, wrist[0], wrist[1], palm]);
    palms = this.wrists.map((w) => w[3]).sort((a, b) => a - b);
    const scale = upperMedian(palms);
    const reach = Math.max(...this.wrists.map((w) => Math.abs(w[1] - wrist[0])));
    if (reach >= this.settings.movement * scale && !this.moved) {
      this.moved = true;
      this.movedAt = t;
      this.window = [];
    }
  }

  commit(t, label) {
    const lowered = label.toLowerCase();
    let event;
    if (SPACE_LABELS.has(lowered) && this.settings.words !== null) {
      event = this.endWord(t);
    } else if (SPACE_LABELS.has(lowered)) {
      this.text += " ";
      event = { t, event: "space", text: this.text };
    } else if (DELETE_LABELS.has(lowered)) {
      this.text = this.text.slice(0, -1);
      event = { t, event: "delete", text: this.text };
    } else {
      this.text += label;
      event = { t, event: "letter", text: this.text, letter: label };
    }
    this.lastCommitted = label;
    this.wrists = [];
    this.moved = false;
    this.window = [];
    this.events.push(event);
    return event;
  }

  // The last word completed from the word list, then a space (the caller records the event).
  endWord(t) {
    const cut = this.text.lastIndexOf(" ");
    const head = cut >= 0 ? this.text.slice(0, cut) : "";
    const word = this.settings.words.correct(cut >= 0 ? this.text.slice(cut + 1) : this.text);
    this.text = head ? `${head} ${word} ` : `${word} `;
    return { t, event: "word", text: this.text, letter: word };
  }
}
