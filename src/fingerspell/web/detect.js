// Finding the signing hand in the browser (the on-device page): MediaPipe's hand landmarker in
// IMAGE mode with the same ladder of retries as Python's HandDetector.find (features/hands.py):
// the frame shrunk to DETECTION_SIDE, then padded, contrast-stretched or brightened copies when
// the plain pass misses, a stream trying at most passes_per_frame of them per frame
// (_passes_to_try). tests/test_web_site.py compares the hands and answers with Python's.

// Python's round(): halves to even (a crop box or border one pixel off changes the crop).
export function pyRound(value) {
  const floor = Math.floor(value);
  const diff = value - floor;
  if (diff > 0.5) return floor + 1;
  if (diff < 0.5) return floor;
  return floor % 2 === 0 ? floor : floor + 1;
}

function canvas(width, height) {
  const c = typeof OffscreenCanvas !== "undefined" ? new OffscreenCanvas(width, height)
    : Object.assign(document.createElement("canvas"), { width, height });
  return c;
}

// A source's size: a video's frame, an image, a bitmap or a canvas.
export function sourceSize(source) {
  return [source.videoWidth || source.naturalWidth || source.width,
    source.videoHeight || source.naturalHeight || source.height];
}

function draw(source, width, height) {
  const out = canvas(width, height);
  const ctx = out.getContext("2d", { willReadFrequently: true });
  ctx.imageSmoothingQuality = "high";
  ctx.drawImage(source, 0, 0, width, height);
  return out;
}

// _fit_for_detection: at most `side` pixels on the longer side.
export function fitForDetection(source, side) {
  const [width, height] = sourceSize(source);
  const scale = side / Math.max(width, height);
  if (scale >= 1) return draw(source, width, height);
  return draw(source, Math.max(1, pyRound(width * scale)), Math.max(1, pyRound(height * scale)));
}

function mapPixels(image, lut) {
  const out = draw(image, image.width, image.height);
  const ctx = out.getContext("2d", { willReadFrequently: true });
  const data = ctx.getImageData(0, 0, out.width, out.height);
  const px = data.data;
  for (let i = 0; i < px.length; i += 4) {
    px[i] = lut[0][px[i]]; px[i + 1] = lut[1][px[i + 1]]; px[i + 2] = lut[2][px[i + 2]];
  }
  ctx.putImageData(data, 0, 0);
  return out;
}

const GAMMA = Array.from({ length: 256 }, (_, i) => pyRound(255 * (i / 255) ** 0.5));

function gamma(image) { return mapPixels(image, [GAMMA, GAMMA, GAMMA]); }

function histograms(image) {
  const px = image.getContext("2d", { willReadFrequently: true })
    .getImageData(0, 0, image.width, image.height).data;
  const h = [new Array(256).fill(0), new Array(256).fill(0), new Array(256).fill(0)];
  for (let i = 0; i < px.length; i += 4) { h[0][px[i]]++; h[1][px[i + 1]]++; h[2][px[i + 2]]++; }
  return h;
}

// PIL's ImageOps.autocontrast(image, cutoff=1), channel by channel.
function autocontrast(image) {
  const luts = histograms(image).map((counts) => {
    const h = counts.slice();
    const total = h.reduce((a, b) => a + b, 0);
    let cut = Math.floor((total * 1) / 100);
    for (let lo = 0; lo < 256 && cut > 0; lo++) {
      if (cut > h[lo]) { cut -= h[lo]; h[lo] = 0; } else { h[lo] -= cut; cut = 0; }
    }
    cut = Math.floor((total * 1) / 100);
    for (let hi = 255; hi >= 0 && cut > 0; hi--) {
      if (cut > h[hi]) { cut -= h[hi]; h[hi] = 0; } else { h[hi] -= cut; cut = 0; }
    }
    let lo = 0;
    while (lo < 256 && !h[lo]) lo++;
    let hi = 255;
    while (hi >= 0 && !h[hi]) hi--;
    if (hi <= lo) return Array.from({ length: 256 }, (_, i) => i);
    const scale = 255 / (hi - lo);
    const offset = -lo * scale;
    return Array.from({ length: 256 }, (_, i) => {
      const v = Math.trunc(i * scale + offset);
      return v < 0 ? 0 : v > 255 ? 255 : v;
    });
  });
  return mapPixels(image, luts);
}

// _pad: a border of the image's mean colour, `share` of the longer side on each side.
function pad(image, side, share = 0.3) {
  const h = histograms(image);
  const n = image.width * image.height;
  const fill = h.map((counts) => Math.trunc(counts.reduce((a, c, v) => a + c * v, 0) / n));
  const scale = side / (Math.max(image.width, image.height) * (1 + 2 * share));
  let inner = image;
  if (scale < 1) {
    inner = draw(image, Math.max(1, pyRound(image.width * scale)),
      Math.max(1, pyRound(image.height * scale)));
  }
  const border = pyRound(Math.max(inner.width, inner.height) * share);
  const out = canvas(inner.width + 2 * border, inner.height + 2 * border);
  const ctx = out.getContext("2d", { willReadFrequently: true });
  ctx.fillStyle = `rgb(${fill[0]}, ${fill[1]}, ${fill[2]})`;
  ctx.fillRect(0, 0, out.width, out.height);
  ctx.drawImage(inner, border, border);
  return [out, [border, border, inner.width, inner.height]];
}

const whole = (image) => [image, [0, 0, image.width, image.height]];

// RETRIES in features/hands.py, by name.
export const RETRIES = {
  pad: (image, side) => pad(image, side),
  contrast: (image) => whole(autocontrast(image)),
  gamma: (image) => whole(gamma(image)),
  pad_gamma: (image, side) => pad(gamma(image), side),
  pad_wide: (image, side) => pad(image, side, 0.6),
  pad_wide_gamma: (image, side) => pad(gamma(image), side, 0.6),
  pad_1x: (image, side) => pad(image, side, 1.0),
  "pad_1.5x": (image, side) => pad(image, side, 1.5),
};

function area(hand) {
  const xs = hand.landmarks.map((p) => p[0]);
  const ys = hand.landmarks.map((p) => p[1]);
  return (Math.max(...xs) - Math.min(...xs)) * (Math.max(...ys) - Math.min(...ys));
}

// pick_hand: which of several hands signs.
export function pickHand(hands, pick) {
  if (!hands.length) return null;
  if (pick === "left" || pick === "right") {
    const side = hands.filter((h) => h.handedness.toLowerCase() === pick);
    if (side.length) hands = side;
  }
  if (pick === "confident") return hands.reduce((a, b) => (b.score > a.score ? b : a));
  return hands.reduce((a, b) => (area(b) > area(a) ? b : a));
}

export class HandFinder {
  // landmarker: MediaPipe's HandLandmarker (IMAGE mode); settings: model.json's "hand".
  constructor(landmarker, settings, { passesPerFrame = settings.passes_per_frame } = {}) {
    this.landmarker = landmarker;
    this.settings = settings;
    this.passes = [whole, ...settings.retries.map((name) => RETRIES[name])];
    this.passesPerFrame = passesPerFrame; // null: the whole ladder (a photo)
    this.lastHit = 0;
    this.nextRetry = 0;
  }

  detect(image, attempt) {
    const result = this.landmarker.detect(image);
    const found = result.landmarks || [];
    return found.map((points, i) => ({
      landmarks: points.map((p) => [p.x, p.y, p.z]),
      handedness: result.handedness[i][0].categoryName,
      score: result.handedness[i][0].score,
      nHands: found.length, attempt, aspect: image.width / image.height,
    }));
  }

  // The signing hand in `source` (a video, image, bitmap or canvas), or null.
  find(source) {
    const image = fitForDetection(source, this.settings.detection_side);
    for (const attempt of this.passesToTry()) {
      const [candidate, placed] = this.passes[attempt](image, this.settings.detection_side);
      const hand = pickHand(this.detect(candidate, attempt), this.settings.pick);
      if (hand === null) continue;
      const [left, top, width, height] = placed;
      if (left || top || width !== candidate.width || height !== candidate.height) {
        hand.landmarks = hand.landmarks.map(([x, y, z]) => [
          Math.fround((x * candidate.width - left) / width),
          Math.fround((y * candidate.height - top) / height), z]);
      }
      hand.aspect = image.width / image.height;
      this.lastHit = attempt;
      return hand;
    }
    return null;
  }

  // _passes_to_try: the plain pass, the last hit's pass, and retries in rotation.
  passesToTry() {
    const n = this.passes.length;
    const budget = this.passesPerFrame;
    if (budget === null || budget === undefined || budget >= n) {
      return Array.from({ length: n }, (_, i) => i);
    }
    const chosen = [...new Set([this.lastHit, 0])].slice(0, budget);
    while (chosen.length < budget) {
      const retry = 1 + (this.nextRetry % (n - 1));
      this.nextRetry += 1;
      if (!chosen.includes(retry)) chosen.push(retry);
    }
    return chosen.sort((a, b) => a - b);
  }
}
