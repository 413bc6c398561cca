// Teach on the device: Check (hold each letter in turn: the ones read wrong are listed first),
// or pick a letter and Capture (hold it: the next frames with a hand are kept), then Adapt
// (adapt.js, in this browser), and the page answers with your adapted heads. Captured examples (features only: no picture) and the adapter stay in this browser's
// IndexedDB; Download gives the adapter as a file for Python (Model.load(..., adapter=FILE),
// --adapter), Import takes one back.

import { adaptHeads, adapterFile, readAdapter } from "./adapt.js";

const DB = "fingerspell";
const EXAMPLES = "examples";
const ADAPTERS = "adapters";
export const PER_CAPTURE = 5; // frames of one hold: together they count as one shot
const MAX_TRIES = 40; // frames watched for a hand per capture
const MAX_EXAMPLES = 2000; // infer/adapt.py's MAX_ADAPT_IMAGES

function openDb() {
  return new Promise((resolve, reject) => {
    const request = indexedDB.open(DB, 1);
    request.onupgradeneeded = () => {
      const db = request.result;
      db.createObjectStore(EXAMPLES, { autoIncrement: true }).createIndex("model", "model");
      db.createObjectStore(ADAPTERS);
    };
    request.onsuccess = () => resolve(request.result);
    request.onerror = () => reject(request.error);
  });
}

function done(request) {
  return new Promise((resolve, reject) => {
    request.onsuccess = () => resolve(request.result);
    request.onerror = () => reject(request.error);
  });
}

// One model's examples and adapter in IndexedDB (keyed by the base head's digest).
export class TeachStore {
  constructor(db, model) { this.db = db; this.model = model; }

  static async open(model) { return new TeachStore(await openDb(), model); }

  store(name, mode = "readonly") { return this.db.transaction(name, mode).objectStore(name); }

  async examples() {
    return done(this.store(EXAMPLES).index("model").getAll(this.model));
  }

  async add(examples) {
    const store = this.store(EXAMPLES, "readwrite");
    for (const e of examples) store.add({ ...e, model: this.model });
    await new Promise((resolve) => { store.transaction.oncomplete = resolve; });
  }

  async adapter() { return done(this.store(ADAPTERS).get(this.model)); }

  async saveAdapter(bytes) { return done(this.store(ADAPTERS, "readwrite").put(bytes, this.model)); }

  async forget() {
    const keys = await done(this.store(EXAMPLES).index("model").getAllKeys(this.model));
    const store = this.store(EXAMPLES, "readwrite");
    for (const key of keys) store.delete(key);
    await done(this.store(ADAPTERS, "readwrite").delete(this.model));
  }
}

const countBy = (labels) => labels.reduce((acc, l) => ({ ...acc, [l]: (acc[l] ?? 0) + 1 }), {});

function mostCommon(values) {
  const counts = countBy(values);
  return Object.keys(counts).reduce((a, b) => (a === null || counts[b] > counts[a] ? b : a), null);
}

// The Teach panel: wires the page's controls to the store and the recognizer.
export class Teach {
  constructor(state, $, { countdown = 3 } = {}) {
    this.state = state;
    this.$ = $;
    this.countdown = countdown;
    this.capturing = null; // {label, kept: [], tries}
    this.adapterBytes = null;
  }

  get config() { return this.state.recognizer.config; }

  status(message) { this.$("teach-status").textContent = message; }

  async setUp() {
    const { $ } = this;
    this.store = await TeachStore.open(this.config.head_digest);
    for (const name of this.config.classes) {
      const option = document.createElement("option");
      option.value = option.textContent = name;
      option.dataset.wrong = "no";
      $("teach-letter").append(option);
    }
    $("capture").addEventListener("click", () => this.capture());
    $("check").addEventListener("click", () => this.check());
    $("adapt").addEventListener("click", () => this.adapt().catch((e) => this.status(`${e}`)));
    $("download").addEventListener("click", () => this.download());
    $("import").addEventListener("change", (event) => this.importFile(event.target.files[0]));
    $("forget").addEventListener("click", () => this.forget());
    const saved = await this.store.adapter();
    if (saved) this.apply(saved, "Your adapter from last time is in use.");
    await this.showExamples();
  }

  async showExamples() {
    const examples = await this.store.examples();
    const counts = countBy(examples.map((e) => this.config.classes[e.label]));
    const listed = Object.entries(counts).map(([l, n]) => `${l} ${n}`).join(", ");
    this.$("examples").textContent = listed ? `Examples: ${listed}` : "No examples yet.";
    this.$("adapt").disabled = !examples.length;
    return examples;
  }

  // One hold of `letter` (a class name): after the countdown, the next PER_CAPTURE frames with
  // a hand are kept as examples; resolves to what the page read in them.
  captureLetter(letter) {
    const label = this.config.classes.indexOf(letter);
    return new Promise((resolve) => {
      let left = this.countdown;
      const tick = () => {
        if (left > 0) { this.status(`Hold ${letter} in ${left}…`); left--; setTimeout(tick, 1000); return; }
        this.status(`Hold ${letter}…`);
        this.capturing = { label, kept: [], reads: [], tries: 0, resolve };
      };
      tick();
    });
  }

  // Each camera frame's answer (page.js): kept while capturing, if a hand is in view.
  async onAnswer(answer) {
    const c = this.capturing;
    if (c === null) return;
    c.tries += 1;
    if (answer.hand !== null && answer.features) {
      c.kept.push({ label: c.label, crop: answer.features.crop, marks: answer.features.marks });
      c.reads.push(answer.label);
    }
    if (c.kept.length < PER_CAPTURE && c.tries < MAX_TRIES) return;
    this.capturing = null;
    if (c.kept.length) await this.store.add(c.kept);
    c.resolve(c);
  }

  async capture() {
    if (!this.state.running) { this.status("Start the camera first."); return; }
    const letter = this.$("teach-letter").value;
    const c = await this.captureLetter(letter);
    const examples = await this.showExamples();
    this.status(c.kept.length ? `Kept ${c.kept.length} frames of ${letter} (${examples.length} `
      + "examples). Adapt when ready." : "No hand seen: try again, in view of the camera.");
  }

  // Hold each letter typed (or every letter) in turn: the ones read wrong on most frames head
  // the Letter list, and every hold is kept as examples (as the served page's Check).
  async check() {
    if (!this.state.running) { this.status("Start the camera first."); return; }
    const known = this.config.classes;
    const typed = this.$("check-letters").value.split(/[\s,]+/).filter(Boolean)
      .map((name) => known.find((k) => k.toLowerCase() === name.toLowerCase()) ?? name);
    const unknown = typed.filter((name) => !known.includes(name));
    if (unknown.length) { this.status(`Not a letter of this model: ${unknown.join(", ")}`); return; }
    const letters = typed.length ? typed : known.filter((n) => n.toLowerCase() !== "nothing");
    const wrong = [];
    for (const letter of letters) {
      const { reads } = await this.captureLetter(letter);
      const misses = reads.filter((read) => read !== letter);
      if (!reads.length || misses.length * 2 > reads.length) {
        wrong.push(`${letter} (read ${mostCommon(misses) ?? "no hand"})`);
        this.putFirst(letter);
      }
    }
    this.$("wrong-letters").textContent = wrong.length ? `Got wrong: ${wrong.join(", ")}` : "";
    await this.showExamples();
    this.status(wrong.length ? `It got ${wrong.length} of ${letters.length} wrong; they head the `
      + "Letter list. Capture more of them, then Adapt." : `It read all ${letters.length} right.`);
  }

  putFirst(letter) {
    const select = this.$("teach-letter");
    const option = [...select.options].find((o) => o.value === letter);
    select.insertBefore(option, select.querySelector(`option[data-wrong="no"]`) ?? null);
    option.dataset.wrong = "yes";
    select.value = letter;
  }

  async adapt() {
    const examples = (await this.store.examples()).slice(-MAX_EXAMPLES);
    if (!examples.length) { this.status("Capture a letter first."); return; }
    this.status("Adapting…");
    await new Promise((resolve) => setTimeout(resolve, 0)); // let the status show
    const started = performance.now();
    const adapted = adaptHeads(this.config, examples);
    const seconds = (performance.now() - started) / 1000;
    const counts = countBy(examples.map((e) => this.config.classes[e.label]));
    const record = { base: this.config.name, examples: counts,
      coverage: Math.round(adapted.coverage * 1e4) / 1e4, method: this.config.adapt.method,
      settings: this.config.adapt, made_by: "the on-device page" };
    const bytes = adapterFile(this.config, adapted, record);
    await this.store.saveAdapter(bytes.buffer);
    this.apply(bytes.buffer, `Adapted in ${seconds.toFixed(1)} s on ${examples.length} frames: `
      + "the page now answers with your hand's heads.");
    this.state.adaptSeconds = seconds;
  }

  apply(buffer, message) {
    let adapted;
    try {
      adapted = readAdapter(this.config, buffer);
    } catch (err) {
      this.status(`Not used: ${err.message}.`);
      return false;
    }
    this.state.recognizer.useHeads(adapted);
    this.adapterBytes = buffer;
    this.state.adapted = adapted.record;
    this.$("download").disabled = false;
    this.status(message);
    return true;
  }

  download() {
    if (!this.adapterBytes) return;
    const link = document.createElement("a");
    link.href = URL.createObjectURL(new Blob([this.adapterBytes]));
    link.download = `${this.config.name}.fsadapter`;
    link.click();
    setTimeout(() => URL.revokeObjectURL(link.href), 1000);
  }

  async importFile(file) {
    if (!file) return;
    if (file.size > 32 * 1024 * 1024) { this.status("Not used: too large for an adapter."); return; }
    const buffer = await file.arrayBuffer();
    if (this.apply(buffer, `Using ${file.name}.`)) await this.store.saveAdapter(buffer);
  }

  async forget() {
    await this.store.forget();
    this.state.recognizer.useHeads(null);
    this.adapterBytes = null;
    this.state.adapted = null;
    this.$("download").disabled = true;
    await this.showExamples();
    this.status("Forgotten: the page answers with the model as shipped.");
  }
}
