// Teach on the device: the head adapted to one person's examples in the browser, exactly as
// Python's head/adaptation.py does it (the same loss, the same pull towards the base weights,
// scaled by the share of letters shown, the same AdamW steps, the same landmark-weight move),
// and the adapter file that carries the result to Python (infer/adapter.py) and back.
// tests/test_web_parity.py runs both sides on the same examples and compares the weights.

const ADAPTER_FORMAT = "fingerspell-adapter";
const ADAPTER_VERSION = "1";

// A head's JSON (recognizer.js's form: rows of weights) as flat Float64Arrays for training.
function flatHead(head) {
  return {
    normalize: head.normalize, mean: head.mean, std: head.std,
    layers: head.layers.map((layer) => ({
      name: layer.name, out: layer.weight.length, in: layer.weight[0].length,
      w: Float64Array.from(layer.weight.flat()), b: Float64Array.from(layer.bias),
    })),
  };
}

// Back to the JSON form, with float32 values as PyTorch would hold them.
function headJson(flat, like) {
  return {
    ...like,
    layers: flat.layers.map((layer) => ({
      name: layer.name,
      weight: Array.from({ length: layer.out }, (_, o) => Array.from(
        layer.w.subarray(o * layer.in, (o + 1) * layer.in), Math.fround)),
      bias: Array.from(layer.b, Math.fround),
    })),
  };
}

// Forward through Linear (-> ReLU) layers for every row of xs; keeps what backward needs.
function forward(head, xs) {
  const inputs = xs.map((x) => (head.normalize
    ? Float64Array.from(x, (v, i) => (v - head.mean[i]) / head.std[i]) : Float64Array.from(x)));
  const acts = [inputs];
  head.layers.forEach((layer, k) => {
    const last = k === head.layers.length - 1;
    acts.push(acts[acts.length - 1].map((x) => {
      const out = new Float64Array(layer.out);
      for (let o = 0; o < layer.out; o++) {
        let sum = layer.b[o];
        const row = o * layer.in;
        for (let i = 0; i < layer.in; i++) sum += layer.w[row + i] * x[i];
        out[o] = last || sum > 0 ? sum : 0;
      }
      return out;
    }));
  });
  return acts; // acts[k]: the input of layer k; the last: the logits
}

// Gradients of the loss with respect to every layer's weights and biases, from the gradients
// with respect to the logits (one row per example).
function backward(head, acts, gradLogits, grads) {
  let upstream = gradLogits;
  for (let k = head.layers.length - 1; k >= 0; k--) {
    const layer = head.layers[k];
    const { w: gw, b: gb } = grads[k];
    const below = k > 0 ? [] : null;
    upstream.forEach((g, n) => {
      const x = acts[k][n];
      const down = below ? new Float64Array(layer.in) : null;
      for (let o = 0; o < layer.out; o++) {
        const go = g[o];
        if (go === 0) continue;
        gb[o] += go;
        const row = o * layer.in;
        for (let i = 0; i < layer.in; i++) {
          gw[row + i] += go * x[i];
          if (down) down[i] += go * layer.w[row + i];
        }
      }
      if (down) { // through the ReLU below: its output was this layer's input
        for (let i = 0; i < layer.in; i++) if (x[i] <= 0) down[i] = 0;
        below.push(down);
      }
    });
    upstream = below;
  }
}

function softmax(logits) {
  const top = Math.max(...logits);
  const exps = Array.from(logits, (v) => Math.exp(v - top));
  const total = exps.reduce((a, b) => a + b, 0);
  return exps.map((v) => v / total);
}

// d(loss)/d(logits) through a softmax, from d(loss)/d(probabilities).
function softmaxBackward(p, g) {
  const inner = p.reduce((a, pk, k) => a + pk * g[k], 0);
  return Float64Array.from(p, (pj, j) => pj * (g[j] - inner));
}

// The share of the model's classes the examples show (head/adaptation.coverage).
export function coverage(config, labels) {
  return new Set(labels).size / config.classes.length;
}

// examples: [{crop: features (fusion), marks: landmark encoding, label: class index}], each with
// a hand in view. Returns {landmark_head, crop_head, landmark_weight, coverage}, the adapted
// parts of config (config.adapt: AdaptSettings, as Python's defaults).
export function adaptHeads(config, examples, settings = config.adapt) {
  if (!examples.length) throw new Error("adapt: no examples to adapt the head with");
  const fusion = config.crop_head !== null;
  const heads = fusion ? [flatHead(config.crop_head), flatHead(config.landmark_head)]
    : [flatHead(config.landmark_head)];
  const inputs = fusion ? [examples.map((e) => e.crop), examples.map((e) => e.marks)]
    : [examples.map((e) => e.marks)];
  const labels = examples.map((e) => e.label);
  const covered = coverage(config, labels);
  const pull = settings.pull / covered ** settings.coverage_power;
  const weight = config.landmark_weight;
  const params = heads.flatMap((h) => h.layers.flatMap((l) => [l.w, l.b]));
  const base = params.map((p) => Float64Array.from(p));
  const m = params.map((p) => new Float64Array(p.length));
  const v = params.map((p) => new Float64Array(p.length));
  const [beta1, beta2, eps] = [0.9, 0.999, 1e-8]; // torch.optim.AdamW's defaults
  const n = examples.length;
  for (let step = 1; step <= settings.steps; step++) {
    const grads = heads.map((h) => h.layers.map((l) => ({
      w: new Float64Array(l.w.length), b: new Float64Array(l.b.length) })));
    const acts = heads.map((h, i) => forward(h, inputs[i]));
    const logits = acts.map((a) => a[a.length - 1]);
    const gradLogits = heads.map(() => []);
    for (let e = 0; e < n; e++) {
      const y = labels[e];
      if (!fusion) { // cross-entropy on the logits, averaged over the examples
        const p = softmax(logits[0][e]);
        gradLogits[0].push(Float64Array.from(p, (pk, k) => (pk - (k === y ? 1 : 0)) / n));
        continue;
      }
      // LateFusionHead: log(max(w p_marks + (1 - w) p_crop, 1e-12)), then cross-entropy
      const pCrop = softmax(logits[0][e]);
      const pMarks = softmax(logits[1][e]);
      const mixed = pMarks.map((pm, k) => Math.max(weight * pm + (1 - weight) * pCrop[k], 1e-12));
      const out = softmax(mixed.map(Math.log));
      const gMixed = mixed.map((q, k) => (weight * pMarks[k] + (1 - weight) * pCrop[k] > 1e-12
        ? (out[k] - (k === y ? 1 : 0)) / n / q : 0));
      gradLogits[0].push(softmaxBackward(pCrop, gMixed.map((g) => (1 - weight) * g)));
      gradLogits[1].push(softmaxBackward(pMarks, gMixed.map((g) => weight * g)));
    }
    heads.forEach((h, i) => backward(h, acts[i], gradLogits[i], grads[i]));
    const flatGrads = grads.flatMap((g) => g.flatMap((l) => [l.w, l.b]));
    const correction1 = 1 - beta1 ** step;
    const correction2 = Math.sqrt(1 - beta2 ** step);
    params.forEach((p, j) => {
      const g = flatGrads[j];
      for (let i = 0; i < p.length; i++) {
        const grad = g[i] + 2 * pull * (p[i] - base[j][i]); // the pull towards the base
        m[j][i] = beta1 * m[j][i] + (1 - beta1) * grad;
        v[j][i] = beta2 * v[j][i] + (1 - beta2) * grad * grad;
        p[i] -= (settings.lr / correction1) * (m[j][i] / (Math.sqrt(v[j][i]) / correction2 + eps));
      }
    });
  }
  let landmarkWeight = weight;
  const target = settings.landmark_weight;
  if (fusion && target !== null && weight > target) landmarkWeight += (target - weight) * covered;
  return {
    crop_head: fusion ? headJson(heads[0], config.crop_head) : null,
    landmark_head: headJson(heads[heads.length - 1], config.landmark_head),
    landmark_weight: landmarkWeight, coverage: covered,
  };
}

// --- the adapter file: safetensors (an 8-byte header length, a JSON header, float32 data) ---

function headsOf(adapted) {
  return [adapted.crop_head, adapted.landmark_head].filter((h) => h !== null);
}

// The adapted heads as an adapter file for config's model (record: examples, coverage, ...).
export function adapterFile(config, adapted, record) {
  const tensors = [];
  for (const head of headsOf(adapted)) {
    for (const layer of head.layers) {
      tensors.push([`${layer.name}.weight`, [layer.weight.length, layer.weight[0].length],
        layer.weight.flat()]);
      tensors.push([`${layer.name}.bias`, [layer.bias.length], layer.bias]);
    }
  }
  const header = { __metadata__: {
    format: ADAPTER_FORMAT, format_version: ADAPTER_VERSION, base_head: config.head_digest,
    classes: JSON.stringify(config.classes),
    landmark_weight: JSON.stringify(config.crop_head ? adapted.landmark_weight : null),
    adapted: JSON.stringify(record) } };
  let offset = 0;
  for (const [name, shape, values] of tensors) {
    header[name] = { dtype: "F32", shape, data_offsets: [offset, offset + 4 * values.length] };
    offset += 4 * values.length;
  }
  let json = JSON.stringify(header);
  json += " ".repeat((8 - (json.length % 8)) % 8); // the data starts 8-byte aligned
  const head = new TextEncoder().encode(json);
  const bytes = new Uint8Array(8 + head.length + offset);
  const view = new DataView(bytes.buffer);
  view.setUint32(0, head.length, true);
  bytes.set(head, 8);
  let at = 8 + head.length;
  for (const [, , values] of tensors) {
    for (const value of values) { view.setFloat32(at, value, true); at += 4; }
  }
  return bytes;
}

// An adapter file's heads for config's model ({crop_head, landmark_head, landmark_weight,
// record}); throws a one-line reason when it is not one, or was made for another model.
export function readAdapter(config, buffer) {
  const view = new DataView(buffer);
  if (buffer.byteLength < 8 || view.getUint32(4, true) !== 0) throw new Error("not an adapter file");
  const length = view.getUint32(0, true);
  if (8 + length > buffer.byteLength) throw new Error("not an adapter file");
  let header;
  try {
    header = JSON.parse(new TextDecoder().decode(new Uint8Array(buffer, 8, length)));
  } catch {
    throw new Error("not an adapter file");
  }
  const meta = header.__metadata__ || {};
  if (meta.format !== ADAPTER_FORMAT) throw new Error("not a fingerspell adapter");
  if (meta.format_version !== ADAPTER_VERSION) throw new Error(`adapter format ${meta.format_version}`);
  if (meta.base_head !== config.head_digest) throw new Error("adapted from another model");
  const read = (name, like) => {
    const entry = header[name];
    if (!entry || entry.dtype !== "F32") throw new Error(`adapter lacks ${name}`);
    const [start, end] = entry.data_offsets;
    const values = Array.from({ length: (end - start) / 4 },
      (_, i) => view.getFloat32(8 + length + start + 4 * i, true));
    if (values.length !== like.flat().length) throw new Error(`adapter's ${name} does not fit`);
    return values;
  };
  const adaptedHead = (head) => head && {
    ...head,
    layers: head.layers.map((layer) => {
      const flat = read(`${layer.name}.weight`, layer.weight);
      const cols = layer.weight[0].length;
      return { name: layer.name, bias: read(`${layer.name}.bias`, layer.bias),
        weight: layer.weight.map((_, o) => flat.slice(o * cols, (o + 1) * cols)) };
    }),
  };
  const weight = JSON.parse(meta.landmark_weight ?? "null");
  return { crop_head: adaptedHead(config.crop_head), landmark_head: adaptedHead(config.landmark_head),
    landmark_weight: typeof weight === "number" ? weight : config.landmark_weight,
    record: JSON.parse(meta.adapted ?? "{}") };
}
