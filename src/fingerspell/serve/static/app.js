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
start();  // browsers that already allow the camera start at once; others wait for the button
