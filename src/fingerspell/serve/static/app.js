// fingerspell live page: camera frames -> WebSocket /v1/stream -> letter, skeleton, text.
"use strict";
const BONES = [[0,1],[1,2],[2,3],[3,4],[0,5],[5,6],[6,7],[7,8],[0,9],[9,10],[10,11],[11,12],
               [0,13],[13,14],[14,15],[15,16],[0,17],[17,18],[18,19],[19,20],[5,9],[9,13],[13,17]];
const $ = (id) => document.getElementById(id);
const video = $("video"), overlay = $("overlay"), status = $("status");
const grab = document.createElement("canvas");
let socket = null, text = "", running = false;

function setStatus(message) { status.textContent = message; }

function showText(value) { text = value; $("text").textContent = value; }

function drawHand(hand) {
  const ctx = overlay.getContext("2d");
  overlay.width = overlay.clientWidth; overlay.height = overlay.clientHeight;
  ctx.clearRect(0, 0, overlay.width, overlay.height);
  if (!hand) return;
  const pts = hand.landmarks.map(([x, y]) => [x * overlay.width, y * overlay.height]);
  ctx.lineWidth = 3; ctx.strokeStyle = "#22c55e";
  for (const [a, b] of BONES) {
    ctx.beginPath(); ctx.moveTo(...pts[a]); ctx.lineTo(...pts[b]); ctx.stroke();
  }
  ctx.fillStyle = "#ef4444";
  for (const [x, y] of pts) { ctx.beginPath(); ctx.arc(x, y, 4, 0, 2 * Math.PI); ctx.fill(); }
}

function onReply(event) {
  const reply = JSON.parse(event.data);
  if (reply.error) { setStatus(reply.error); }
  if (reply.text !== undefined) showText(reply.text);
  if (reply.label !== undefined) {
    const hand = reply.hand || null;
    $("letter").textContent = hand || reply.route === "image" ? reply.label : "–";
    $("confidence").textContent = hand || reply.route === "image"
      ? `${Math.round(reply.confidence * 100)}%` : "no hand";
    drawHand(hand);
    setStatus("Recognising.");
  }
  sendFrame();  // one frame in flight: the page never floods a slow server
}

function sendFrame() {
  if (!running || !socket || socket.readyState !== WebSocket.OPEN) return;
  if (!video.videoWidth) { setTimeout(sendFrame, 100); return; }
  grab.width = 480; grab.height = Math.round(480 * video.videoHeight / video.videoWidth);
  grab.getContext("2d").drawImage(video, 0, 0, grab.width, grab.height);
  grab.toBlob((blob) => { if (blob && socket.readyState === WebSocket.OPEN) socket.send(blob); },
              "image/jpeg", 0.85);
}

function connect() {
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  socket = new WebSocket(`${scheme}://${location.host}/v1/stream`);
  socket.binaryType = "arraybuffer";
  socket.onopen = () => { setStatus("Connected."); sendFrame(); };
  socket.onmessage = onReply;
  socket.onclose = (event) => {
    if (event.code === 1013) { running = false; return; }  // the server said why
    if (running) { setStatus("Connection lost; reconnecting…"); setTimeout(connect, 1000); }
  };
}

async function start() {
  if (running) return;
  try {
    video.srcObject = await navigator.mediaDevices.getUserMedia(
      { video: { width: 640, height: 480, facingMode: "user" }, audio: false });
  } catch (error) {
    setStatus(`Camera not available: ${error.message}`);
    return;
  }
  running = true;
  $("start").textContent = "Camera on";
  $("start").disabled = true;
  connect();
}

// The on-device page, where the server has one and this browser can run it: frames then never
// leave the device. ?server keeps this page (it streams frames; Teach mode is here).
function canRunOnDevice() {
  try {  // WebAssembly SIMD (a module with one v128 instruction), OffscreenCanvas, bitmaps
    const simd = WebAssembly.validate(new Uint8Array([0, 97, 115, 109, 1, 0, 0, 0, 1, 5, 1, 96,
      0, 1, 123, 3, 2, 1, 0, 10, 10, 1, 8, 0, 65, 0, 253, 15, 253, 98, 11]));
    return simd && typeof OffscreenCanvas === "function" && typeof createImageBitmap === "function";
  } catch { return false; }
}

async function preferDevicePage() {
  if (new URLSearchParams(location.search).has("server")) return;
  const model = await fetch("/v1/model").then((r) => r.json()).catch(() => ({}));
  if (model.device_page && canRunOnDevice()) location.replace(`${model.device_page}?served`);
}
preferDevicePage();

$("start").addEventListener("click", start);
$("clear").addEventListener("click", () => {
  showText("");
  if (socket && socket.readyState === WebSocket.OPEN) socket.send(JSON.stringify({ command: "clear" }));
});
$("copy").addEventListener("click", async () => {
  try { await navigator.clipboard.writeText(text); setStatus("Copied."); }
  catch { setStatus("Copy is not allowed here; select the text instead."); }
});
$("speak").addEventListener("click", () => {
  if (!("speechSynthesis" in window)) { setStatus("This browser cannot speak."); return; }
  speechSynthesis.cancel();
  speechSynthesis.speak(new SpeechSynthesisUtterance(text || "nothing spelled yet"));
});
// ----- Teach mode: capture a few frames of a letter, then adapt the model to this hand -----
const params = new URLSearchParams(location.search);
const COUNTDOWN = Number(params.get("countdown") ?? 3);  // seconds before capturing starts
const PER_CAPTURE = 5, MAX_TRIES = 40;  // frames kept per Capture press; frames tried at most
const teachStatus = (message) => { $("teach-status").textContent = message; };
const profileName = () => $("profile").value.trim();
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

async function api(path, options) {
  const reply = await fetch(path, options);
  const body = await reply.json().catch(() => ({}));
  if (!reply.ok) throw new Error(typeof body.detail === "string" ? body.detail : reply.statusText);
  return body;
}

async function setUpTeach() {
  const model = await api("/v1/model");
  if (!model.teach) { $("teach").hidden = true; return; }
  const select = $("teach-letter");
  for (const name of model.classes) {
    const option = document.createElement("option");
    option.value = option.textContent = name;
    select.append(option);
  }
  if (model.profile) $("profile").value = model.profile;
  await showProfile();
}

async function showProfile() {
  try {
    const profile = await api(`/v1/profiles/${encodeURIComponent(profileName())}`);
    const counts = Object.entries(profile.examples).map(([k, n]) => `${k} ${n}`).join(", ");
    teachStatus(counts ? `Examples: ${counts}.` : "No examples yet.");
  } catch (error) { teachStatus(error.message); }
}

function grabBlob() {
  grab.width = 480; grab.height = Math.round(480 * video.videoHeight / video.videoWidth);
  grab.getContext("2d").drawImage(video, 0, 0, grab.width, grab.height);
  return new Promise((resolve) => grab.toBlob(resolve, "image/jpeg", 0.9));
}

// Counts down, then posts frames of `letter` until PER_CAPTURE are kept (a hand in view);
// returns what the serving model read in each kept frame.
async function captureLetter(letter, name) {
  for (let left = COUNTDOWN; left > 0; left--) {
    teachStatus(`Hold ${letter}: capturing in ${left}…`);
    await sleep(1000);
  }
  const reads = [];
  for (let tries = 0; reads.length < PER_CAPTURE && tries < MAX_TRIES; tries++) {
    const blob = await grabBlob();
    const reply = await api(`/v1/profiles/${encodeURIComponent(name)}/examples` +
                            `?label=${encodeURIComponent(letter)}`,
                            { method: "POST", body: blob,
                              headers: { "content-type": "image/jpeg" } });
    if (reply.saved) {
      reads.push(reply.read ? reply.read.label : letter);
      const thumb = document.createElement("img");
      thumb.src = URL.createObjectURL(blob);
      thumb.alt = `${letter} example, read as ${reads[reads.length - 1]}`;
      $("captures").append(thumb);
    }
    teachStatus(`${letter}: ${reads.length} of ${PER_CAPTURE} kept` +
                (reply.hand === false ? " (no hand in view: hold it in the frame)" : ""));
    await sleep(150);
  }
  return reads;
}

async function capture() {
  if (!video.videoWidth) { teachStatus("Start the camera first."); return; }
  const letter = $("teach-letter").value;
  setTeachBusy(true);
  try {
    await captureLetter(letter, profileName());
    await showProfile();
  } catch (error) {
    teachStatus(`Capture stopped: ${error.message}`);
  } finally {
    setTeachBusy(false);
  }
}

// The check: each letter in turn (those typed in "Letters", else all but `nothing`) is held
// and captured; the letters it read wrong in most frames go to the top of the Letter list.
async function check() {
  if (!video.videoWidth) { teachStatus("Start the camera first."); return; }
  const known = [...$("teach-letter").options].map((option) => option.value);
  const typed = $("check-letters").value.split(/[\s,]+/).filter(Boolean)
    .map((name) => known.find((k) => k.toLowerCase() === name.toLowerCase()) || name);
  const unknown = typed.filter((name) => !known.includes(name));
  if (unknown.length) { teachStatus(`Not a letter of this model: ${unknown.join(", ")}`); return; }
  const letters = typed.length ? typed : known.filter((name) => name.toLowerCase() !== "nothing");
  setTeachBusy(true);
  const wrong = [];
  try {
    for (const letter of letters) {
      const reads = await captureLetter(letter, profileName());
      const misses = reads.filter((read) => read !== letter);
      if (!reads.length || misses.length * 2 > reads.length) {
        wrong.push(`${letter} (read ${mostCommon(misses) || "no hand"})`);
        putFirst(letter);
      }
    }
    const list = $("wrong-letters");
    list.textContent = wrong.length ? `Got wrong: ${wrong.join(", ")}` : "";
    teachStatus(wrong.length
      ? `It got ${wrong.length} of ${letters.length} wrong; they head the Letter list. ` +
        "Capture more of them, then Adapt."
      : `It read all ${letters.length} right.`);
    await showProfile();
  } catch (error) {
    teachStatus(`Check stopped: ${error.message}`);
  } finally {
    setTeachBusy(false);
  }
}

function mostCommon(values) {
  const counts = new Map();
  for (const value of values) counts.set(value, (counts.get(value) || 0) + 1);
  return [...counts].sort((a, b) => b[1] - a[1])[0]?.[0];
}

// Moves `letter` to the head of the Letter list's "got wrong" group and selects it.
function putFirst(letter) {
  const select = $("teach-letter");
  let group = select.querySelector("optgroup");
  if (!group) {
    group = document.createElement("optgroup");
    group.label = "Got wrong";
    select.prepend(group);
  }
  const option = [...select.options].find((o) => o.value === letter);
  group.append(option);
  select.value = group.firstElementChild.value;
}

function setTeachBusy(busy) {
  for (const id of ["capture", "check", "adapt"]) $(id).disabled = busy;
}

async function adapt() {
  setTeachBusy(true);
  teachStatus("Adapting…");
  try {
    const result = await api(`/v1/profiles/${encodeURIComponent(profileName())}/adapt`,
                             { method: "POST" });
    const body = $("before-after").querySelector("tbody");
    body.replaceChildren();
    for (const [letter, count] of Object.entries(result.examples)) {
      const row = document.createElement("tr");
      for (const value of [letter, count, `${Math.round(result.before[letter] * 100)}%`,
                           `${Math.round(result.after[letter] * 100)}%`]) {
        const cell = document.createElement("td");
        cell.textContent = value;
        row.append(cell);
      }
      body.append(row);
    }
    $("before-after").hidden = false;
    teachStatus(`Adapted in ${result.seconds.toFixed(1)} s: the live letters now come from ` +
                `profile ${result.profile}.`);
  } catch (error) {
    teachStatus(`Adapt failed: ${error.message}`);
  } finally {
    setTeachBusy(false);
  }
}

$("capture").addEventListener("click", capture);
$("check").addEventListener("click", check);
$("adapt").addEventListener("click", adapt);
$("profile").addEventListener("change", showProfile);
setUpTeach().catch((error) => teachStatus(error.message));
start();  // browsers that already allow the camera start at once; others wait for the button
