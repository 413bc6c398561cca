// The on-device page: camera -> Recognizer (device.js: hand, crop graph, landmark head, fusion)
// -> LiveSpelling (session.js: J/Z from motion, the decoder) -> letter, skeleton and text.
// Nothing is sent anywhere: the page loads its files from its own folder and that is all.
// window.fingerspell exposes the state for tests and for pages that embed this one.

import { Recognizer } from "./device.js";
import { BONES } from "./recognizer.js";
import { LiveSpelling } from "./session.js";
import { Teach } from "./teach.js";

const $ = (id) => document.getElementById(id);
const video = $("video");
const overlay = $("overlay");
const MAX_RECORDED = 5000; // frames kept in window.fingerspell.frames (tests, embedding pages)

const state = {
  ready: false, running: false, error: null, text: "", frames: [], events: [],
  recognizer: null, spelling: null, loadSeconds: null, startedAt: null, teach: null,
  adapted: null, adaptSeconds: null,
};
window.fingerspell = state;

function setStatus(message) { $("status").textContent = message; }

function drawHand(hand) {
  const ctx = overlay.getContext("2d");
  // the video's own size: the canvas is fitted to the box (object-fit) exactly as the video is
  overlay.width = video.videoWidth || overlay.clientWidth;
  overlay.height = video.videoHeight || overlay.clientHeight;
  ctx.clearRect(0, 0, overlay.width, overlay.height);
  if (!hand) return;
  const pts = hand.landmarks.map(([x, y]) => [x * overlay.width, y * overlay.height]);
  const unit = Math.max(1, overlay.width / 320);
  ctx.lineWidth = 2 * unit;
  ctx.strokeStyle = "#22c55e";
  for (const [a, b] of BONES) {
    ctx.beginPath(); ctx.moveTo(...pts[a]); ctx.lineTo(...pts[b]); ctx.stroke();
  }
  ctx.fillStyle = "#ef4444";
  for (const [x, y] of pts) { ctx.beginPath(); ctx.arc(x, y, 3 * unit, 0, 2 * Math.PI); ctx.fill(); }
}

function show(answer) {
  const seen = answer.hand !== null;
  $("letter").textContent = seen ? answer.label : "–";
  $("confidence").textContent = seen
    ? `${Math.round(answer.confidence * 100)}%${answer.unsure ? " (unsure)" : ""}` : "no hand";
  drawHand(answer.hand);
  state.text = state.spelling.text;
  $("text").textContent = state.text;
}

function record(t, answer, events, started) {
  state.frames.push({ t, label: answer.label, confidence: answer.confidence, route: answer.route,
    hand: answer.hand !== null, ms: performance.now() - started });
  if (state.frames.length > MAX_RECORDED) state.frames.shift();
  state.events.push(...events);
  const recent = state.frames.slice(-30);
  const spent = recent.reduce((a, f) => a + f.ms, 0) / recent.length;
  $("speed").textContent = `${(1000 / spent).toFixed(1)} frames/s on this device`;
}

async function nextFrame() {
  await new Promise((resolve) => (video.requestVideoFrameCallback
    ? video.requestVideoFrameCallback(() => resolve()) : requestAnimationFrame(() => resolve())));
}

async function loop() {
  while (state.running) {
    if (video.readyState < 2) { await nextFrame(); continue; }
    const started = performance.now();
    // one still of the frame: detection and crop must see the same picture
    const frame = await createImageBitmap(video);
    const t = (started - state.startedAt) / 1000;
    try {
      const answer = await state.recognizer.recognize(frame, { whole: false });
      const events = state.spelling.feed(t, answer);
      show(answer);
      record(t, answer, events, started);
      await state.teach?.onAnswer(answer);
    } finally {
      frame.close();
    }
    await nextFrame();
  }
}

async function start() {
  try {
    video.srcObject = await navigator.mediaDevices.getUserMedia({
      video: { width: { ideal: 640 }, height: { ideal: 480 }, facingMode: "user" }, audio: false });
  } catch (err) {
    state.error = `camera: ${err.message}`;
    setStatus(`No camera: ${err.message}`);
    return;
  }
  await video.play();
  state.running = true;
  state.startedAt = performance.now();
  $("start").textContent = "Stop camera";
  setStatus("Recognising, on this device.");
  loop().catch((err) => { state.error = String(err); setStatus(`Stopped: ${err}`); });
}

function stop() {
  state.running = false;
  for (const track of video.srcObject?.getTracks() ?? []) track.stop();
  video.srcObject = null;
  drawHand(null);
  $("start").textContent = "Start camera";
  setStatus("Camera off.");
}

async function load() {
  const begun = performance.now();
  try {
    state.recognizer = await Recognizer.load(".");
  } catch (err) {
    state.error = `load: ${err}`;
    setStatus(`The model did not load: ${err}`);
    return;
  }
  const c = state.recognizer.config;
  state.spelling = new LiveSpelling({ classes: c.classes, unsureBelow: c.unsure_below,
    usesHands: true });
  state.loadSeconds = (performance.now() - begun) / 1000;
  const params = new URLSearchParams(location.search);
  state.teach = new Teach(state, $, { countdown: Number(params.get("countdown") ?? 3) });
  await state.teach.setUp().catch((err) => {  // no IndexedDB (a private window): no Teach
    $("teach").hidden = true;
    state.teach = null;
    console.warn(`Teach is off: ${err}`);
  });
  $("served").hidden = !params.has("served"); // opened by `fingerspell serve`: its page is there
  state.ready = true;
  $("start").disabled = false;
  setStatus(`Ready (${c.name}, loaded in ${state.loadSeconds.toFixed(1)} s). Start the camera.`);
  if (params.has("autostart")) start();
}

$("start").addEventListener("click", () => (state.running ? stop() : start()));
$("clear").addEventListener("click", () => { state.spelling.decoder.reset(); $("text").textContent = ""; });
$("copy").addEventListener("click", () => navigator.clipboard?.writeText(state.spelling.text));
$("speak").addEventListener("click", () => {
  if (window.speechSynthesis) speechSynthesis.speak(new SpeechSynthesisUtterance(state.spelling.text));
});
load();
