// The avatarbot web chat: one WebSocket per tab. docs/websocket.md describes the protocol.
"use strict";

const $ = (selector) => document.querySelector(selector);
const list = $("#messages");
const form = $("#composer");
const input = $("#text");
const sendButton = $("#send");
const recordButton = $("#record");
const avatarSwitch = $("#avatar");
const connection = $("#connection");
const emptyNote = $(".empty");

const KEEP = 60; // messages kept in local storage
const HOLD_MS = 400; // a longer press is hold-to-talk; a shorter one is click-to-record
const FINAL_CLOSE_CODES = [4401, 4429]; // reconnecting would not help
const MAX_AUDIO_BYTES = 25 * 1024 * 1024; // Whisper's upload limit; the server refuses more

const store = {
  get(name, fallback) {
    try {
      return JSON.parse(localStorage.getItem(`avatarbot.${name}`)) ?? fallback;
    } catch {
      return fallback;
    }
  },
  set(name, value) {
    try {
      localStorage.setItem(`avatarbot.${name}`, JSON.stringify(value));
    } catch {
      // storage full or disabled: the chat still works, it just won't survive a reload
    }
  },
};

// crypto.getRandomValues also works on plain http, where crypto.randomUUID does not exist.
function randomId(bytes = 16) {
  const values = crypto.getRandomValues(new Uint8Array(bytes));
  return Array.from(values, (b) => b.toString(16).padStart(2, "0")).join("");
}
const newTurn = () => `t${randomId(6)}`;

// The access token from the link, if any. Loading this page with it set the session cookie
// (HttpOnly), which the socket and the videos carry from now on: the token leaves the address
// bar and goes into no URL, unless the cookie did not take (cookies blocked).
const token = new URLSearchParams(location.search).get("token");
if (token) history.replaceState(null, "", location.pathname);
let tokenInUrls = false;
const withToken = (url) => (tokenInUrls ? `${url}&token=${encodeURIComponent(token)}` : url);

// The server issues the conversation id (signed) in its first message; an older page's own id
// is sent once so that the server can carry that conversation over.
let conversation = store.get("conversation", "");
if (typeof conversation !== "string" || conversation.length > 200) conversation = "";

function adopt(id) {
  if (!id || id === conversation) return;
  const old = conversation && `conversation=${conversation}`;
  if (old) {
    for (const entry of entries) {
      if (entry.video) entry.video = entry.video.replace(old, `conversation=${id}`);
    }
    store.set("entries", entries);
  }
  conversation = id;
  store.set("conversation", id);
}

// Entries: {id, role: "user" | "bot", turn, text, voice, streaming, failed, job, rendering, video, note}
let entries = store.get("entries", []).map((entry) => ({ ...entry, streaming: false }));
const nodes = new Map();

const find = (role, turn) => entries.find((entry) => entry.id === `${role}:${turn}`);

function upsert(role, turn, patch, { autoplay = false } = {}) {
  let entry = find(role, turn);
  if (!entry) {
    entry = { id: `${role}:${turn}`, role, turn, text: "" };
    entries.push(entry);
  }
  Object.assign(entry, patch);
  render(entry, autoplay);
  entries = entries.slice(-KEEP);
  store.set("entries", entries);
}

function render(entry, autoplay) {
  const stick = list.scrollHeight - list.scrollTop - list.clientHeight < 80;
  let node = nodes.get(entry.id);
  if (!node) {
    node = document.createElement("div");
    node.className = `msg ${entry.role}`;
    node.dataset.turn = entry.turn;
    node.append(Object.assign(document.createElement("span"), { className: "text" }));
    nodes.set(entry.id, node);
    emptyNote.remove();
    list.append(node);
  }
  node.classList.toggle("voice", Boolean(entry.voice));
  node.classList.toggle("streaming", Boolean(entry.streaming));
  node.classList.toggle("failed", Boolean(entry.failed));
  node.querySelector(".text").textContent = entry.text;
  renderNote(node, entry.rendering ? "Rendering the video…" : entry.note, entry.rendering);
  if (entry.video && !node.querySelector("video")) {
    const video = document.createElement("video");
    Object.assign(video, { controls: true, playsInline: true, preload: "metadata" });
    video.src = withToken(entry.video);
    if (stick) video.addEventListener("loadedmetadata", scrollDown, { once: true });
    node.append(video);
    if (autoplay) video.play().catch(() => {}); // the browser may want a tap first
  }
  if (stick) scrollDown();
}

function renderNote(node, text, rendering) {
  let note = node.querySelector(".note");
  if (!text) return note?.remove();
  if (!note) node.append((note = Object.assign(document.createElement("small"), { className: "note" })));
  note.textContent = text;
  note.classList.toggle("rendering", Boolean(rendering));
}

function scrollDown() {
  list.scrollTop = list.scrollHeight;
}

function notice(text) {
  list.append(Object.assign(document.createElement("p"), { className: "notice", textContent: text }));
  scrollDown();
}

function clearAll() {
  entries = [];
  nodes.clear();
  list.replaceChildren(emptyNote);
  store.set("entries", entries);
}

// -- the socket -------------------------------------------------------------------------------

let socket = null;
let retries = 0;

// Replay from before the oldest render still pending, else after the newest job seen.
function cursor() {
  const jobs = entries.filter((entry) => entry.job);
  const pending = jobs.filter((entry) => entry.rendering).map((entry) => entry.job);
  if (pending.length) return Math.min(...pending) - 1;
  return Math.max(0, ...jobs.map((entry) => entry.job));
}

function connect() {
  const url = new URL("ws", location.href);
  url.protocol = location.protocol === "https:" ? "wss:" : "ws:";
  url.search = new URLSearchParams({
    ...(conversation ? { conversation } : {}),
    since: cursor(),
    ...(tokenInUrls ? { token } : {}),
  });
  socket = new WebSocket(url);
  socket.onmessage = (event) => receive(JSON.parse(event.data));
  socket.onclose = (event) => {
    socket = null;
    online(false);
    if (event.code === 1009) notice("That message was too large for me.");
    if (event.code === 4401 && token && !tokenInUrls) {
      tokenInUrls = true; // no session cookie: fall back to the token in the URL
      return connect();
    }
    if (FINAL_CLOSE_CODES.includes(event.code)) {
      connection.textContent = "Not connected";
      return;
    }
    const delay = Math.min(15000, 500 * 2 ** retries++) * (0.8 + Math.random() * 0.4);
    connection.textContent = "Reconnecting…";
    setTimeout(connect, delay);
  };
}

function online(on) {
  connection.textContent = on ? "Online" : "Connecting…";
  connection.classList.toggle("online", on);
  sendButton.disabled = !on;
  recordButton.disabled = !on || !canRecord;
}

function send(frame) {
  if (socket?.readyState !== WebSocket.OPEN) {
    notice("Not connected — trying again…");
    return false;
  }
  socket.send(JSON.stringify(frame));
  return true;
}

function receive(message) {
  const { turn } = message;
  switch (message.type) {
    case "status":
      return status(message);
    case "transcript":
      return upsert("user", turn, { text: message.text, voice: true });
    case "delta":
      return upsert("bot", turn, { text: (find("bot", turn)?.text ?? "") + message.text, streaming: true });
    case "final":
      return upsert("bot", turn, { text: message.text, streaming: false });
    case "video":
      if (entries.some((entry) => entry.job === message.job && entry.video)) return; // a repeat
      return upsert("bot", turn || `job${message.job}`, { job: message.job, rendering: false, video: message.url, note: message.note }, { autoplay: true });
    case "error":
      return failure(message);
  }
}

function status(message) {
  if (message.state === "ready") {
    retries = 0;
    adopt(message.conversation);
    online(true);
    avatarSwitch.disabled = !message.avatar_available;
    avatarSwitch.checked = message.avatar;
  } else if (message.state === "rendering" && !find("bot", message.turn)?.video) {
    upsert("bot", message.turn, { job: message.job, rendering: true });
  } else if (message.state === "avatar") {
    avatarSwitch.checked = message.on;
  } else if (message.state === "reset") {
    clearAll();
  }
}

function failure(message) {
  const { turn } = message;
  if (message.code === "video_failed") {
    return upsert("bot", turn || `job${message.job}`, { job: message.job, rendering: false, note: message.message });
  }
  const answer = find("bot", turn);
  if (!turn || !answer) return notice(message.message);
  const text = answer.text ? `${answer.text}\n\n${message.message}` : message.message;
  upsert("bot", turn, { text, streaming: false, failed: true });
}

// -- typing -----------------------------------------------------------------------------------

function ask(frame, question) {
  if (!send(frame)) return;
  upsert("user", frame.turn, question);
  upsert("bot", frame.turn, { streaming: true });
}

form.addEventListener("submit", (event) => {
  event.preventDefault();
  const text = input.value.trim();
  if (!text) return;
  ask({ type: "text", turn: newTurn(), text }, { text });
  input.value = "";
  autosize();
});

input.addEventListener("keydown", (event) => {
  if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
    event.preventDefault();
    form.requestSubmit();
  }
});

function autosize() {
  input.style.height = "auto";
  input.style.height = `${input.scrollHeight + 2}px`;
}
input.addEventListener("input", autosize);

$("#reset").addEventListener("click", () => send({ type: "reset", turn: newTurn() }));

avatarSwitch.addEventListener("change", () => {
  if (!send({ type: "avatar", turn: newTurn(), on: avatarSwitch.checked })) {
    avatarSwitch.checked = !avatarSwitch.checked;
  }
});

// -- talking: hold to talk, or click to start and click again to send ---------------------------

const canRecord = Boolean(navigator.mediaDevices?.getUserMedia && window.MediaRecorder);
if (!canRecord) recordButton.title = "Voice messages need https:// (or localhost) and a microphone";
let recorder = null;
let starting = false;
let pressedAt = 0;
let stopWhenStarted = false;

async function startRecording() {
  starting = true;
  stopWhenStarted = false;
  let stream;
  try {
    stream = await navigator.mediaDevices.getUserMedia({ audio: true });
  } catch (error) {
    starting = false;
    return notice(`No microphone: ${error.message}`);
  }
  const types = ["audio/webm;codecs=opus", "audio/ogg;codecs=opus", "audio/webm", "audio/mp4"];
  const type = types.find((candidate) => MediaRecorder.isTypeSupported(candidate));
  const chunks = [];
  let recorded = 0;
  recorder = new MediaRecorder(stream, type ? { mimeType: type } : {});
  recorder.ondataavailable = (event) => {
    if (!event.data.size) return;
    chunks.push(event.data);
    recorded += event.data.size;
    recordButton.dataset.recorded = recorded; // bytes captured so far
  };
  recorder.onstart = () => {
    starting = false;
    recordButton.classList.add("recording");
    recordButton.dataset.recorded = 0;
    if (stopWhenStarted) stopRecording();
  };
  recorder.onstop = () => {
    stream.getTracks().forEach((track) => track.stop());
    recordButton.classList.remove("recording");
    delete recordButton.dataset.recorded;
    const blob = new Blob(chunks, { type: recorder.mimeType || type || "audio/webm" });
    recorder = null;
    sendAudio(blob);
  };
  recorder.start(250); // hand over data every 250 ms, not only at the end
}

function stopRecording() {
  if (recorder?.state === "recording") recorder.stop();
  else if (starting) stopWhenStarted = true;
}

async function sendAudio(blob) {
  if (!blob.size) return notice("Nothing was recorded.");
  if (blob.size > MAX_AUDIO_BYTES) return notice("That recording is too long for me — please keep it shorter.");
  const data = await new Promise((resolve, reject) => {
    const reader = new FileReader();
    reader.onload = () => resolve(reader.result.slice(reader.result.indexOf(",") + 1));
    reader.onerror = () => reject(reader.error);
    reader.readAsDataURL(blob);
  });
  ask({ type: "audio", turn: newTurn(), mime: blob.type, data }, { text: "Voice message…", voice: true });
}

recordButton.addEventListener("pointerdown", (event) => {
  if (event.button !== 0) return;
  recordButton.setPointerCapture(event.pointerId);
  if (recorder || starting) return stopRecording();
  pressedAt = performance.now();
  startRecording();
});
recordButton.addEventListener("pointerup", () => {
  if (pressedAt && performance.now() - pressedAt > HOLD_MS) stopRecording();
  pressedAt = 0;
});
recordButton.addEventListener("click", (event) => {
  if (event.detail !== 0) return; // pointer clicks are handled above; this is the keyboard
  if (recorder || starting) stopRecording();
  else startRecording();
});
recordButton.addEventListener("contextmenu", (event) => event.preventDefault());

// -- start ------------------------------------------------------------------------------------

entries.forEach((entry) => render(entry, false));
connect();
