// The avatarbot web chat: one WebSocket per tab. docs/websocket.md describes the protocol.
import { setUpFace } from "./face.js";
import { follow } from "./follow.js";
import { setUpLive } from "./live.js";
import { createOutbox } from "./outbox.js";
import { newTurn, store } from "./store.js";
import { setUpPhoto } from "./photo.js";
import { canRecord, setUpVoice } from "./voice.js";

const $ = (selector) => document.querySelector(selector);
const list = $("#messages");
const form = $("#composer");
const input = $("#text");
const recordButton = $("#record");
const resetButton = $("#reset");
const avatarSwitch = $("#avatar");
const avatarLabel = $("#avatar-label");
const avatarHint = $("#avatar-hint");
const connection = $("#connection");
const emptyNote = $(".empty");
const jump = $("#jump");
const announcer = $("#announcer");

const KEEP = 60; // messages kept in local storage
const FINAL_CLOSE_CODES = [4401, 4429]; // reconnecting would not help
const MAX_AUDIO_BYTES = 25 * 1024 * 1024; // Whisper's upload limit; the server refuses more
const PENDING_NOTE = "Not sent yet — waiting for the connection. It goes out once the page reconnects.";
const VIDEO_TITLE = "Send a talking-avatar video with each answer";
const NO_VIDEO_TITLE = avatarHint.textContent;
const OFFLINE = "Not connected — trying again…";

const coarsePointer = matchMedia("(pointer: coarse)").matches; // a phone: no keyboard pop-ups

// The live avatar (live.js); its frames go out at once, never queued: a stale offer is useless.
const live = setUpLive({
  section: $("#live"),
  video: $("#live-video"),
  label: $("#live-state"),
  muteButton: $("#live-mute"),
  send: (frame) => isOnline() && (socket.send(JSON.stringify(frame)), true),
  notice: (text) => notice(text, { kind: "live" }),
});
let avatarMode = "clip";

function announce(text) {
  announcer.textContent = text;
}

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

const outbox = createOutbox({ sent, gaveUp });
const ownResets = new Set(outbox.frames().filter((frame) => frame.type === "reset").map((frame) => frame.turn));
// Resets made before a reload: the reloaded page draws the server's history again, so their
// echo clears what came before them.
const carriedResets = new Set(ownResets);
const view = follow(list, jump);

// Entries: {id, role: "user" | "bot", turn, text, voice, pending, streaming, failed, job,
// rendering, video, note}
let entries = store.get("entries", []).map((entry) => ({ ...entry, streaming: false }));
for (const entry of entries) {
  if (entry.pending && !outbox.has(entry.turn)) Object.assign(entry, { pending: false, note: "Not sent." });
}
const nodes = new Map();

// The newest job seen, kept apart from the entries: after a reset, older videos stay away.
let newestJob = Number(store.get("job", 0)) || 0;

const find = (role, turn) => entries.find((entry) => entry.id === `${role}:${turn}`);

function upsert(role, turn, patch, { autoplay = false } = {}) {
  let entry = find(role, turn);
  if (!entry) {
    entry = { id: `${role}:${turn}`, role, turn, text: "" };
    entries.push(entry);
  }
  Object.assign(entry, patch);
  if (entry.job > newestJob) store.set("job", (newestJob = entry.job));
  render(entry, autoplay);
  view.reveal();
  entries = entries.slice(-KEEP);
  store.set("entries", entries);
}

function render(entry, autoplay) {
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
  node.classList.toggle("pending", Boolean(entry.pending));
  node.classList.toggle("streaming", Boolean(entry.streaming));
  node.classList.toggle("failed", Boolean(entry.failed));
  node.querySelector(".text").textContent = entry.text;
  renderNote(node, entry.rendering ? "Rendering the video…" : entry.note, entry.rendering);
  if (entry.video && !node.querySelector("video")) {
    const video = document.createElement("video");
    Object.assign(video, { controls: true, playsInline: true, preload: "metadata" });
    video.src = withToken(entry.video);
    video.addEventListener("loadedmetadata", view.grown, { once: true });
    node.append(video);
    if (autoplay) video.play().catch(() => {}); // the browser may want a tap first
  }
}

function renderNote(node, text, rendering) {
  let note = node.querySelector(".note");
  if (!text) return note?.remove();
  if (!note) node.append((note = Object.assign(document.createElement("small"), { className: "note" })));
  note.textContent = text;
  note.classList.toggle("rendering", Boolean(rendering));
}

function notice(text, { kind = "", action = null } = {}) {
  const node = Object.assign(document.createElement("p"), { className: `notice ${kind}`.trim() });
  node.append(text);
  if (action) {
    const button = Object.assign(document.createElement("button"), { type: "button", textContent: action.label });
    button.addEventListener("click", action.run);
    node.append(" ", button);
  }
  list.append(node);
  view.reveal();
  return node;
}

function connectionNotice() {
  if (list.querySelector(".notice.connection")) return;
  notice(OFFLINE, { kind: "connection", action: { label: "Try now", run: reconnectNow } });
}

function clearAll(keep = (entry) => outbox.unsent(entry.turn)) {
  entries = entries.filter(keep); // by default the unsent ones: they go after the reset
  nodes.clear();
  list.replaceChildren(emptyNote);
  entries.forEach((entry) => render(entry, false));
  store.set("entries", entries);
}

// -- the socket -------------------------------------------------------------------------------

let socket = null;
let ready = false;
let retries = 0;
let retryTimer = 0;
let closedForGood = false;
const isOnline = () => ready && socket?.readyState === WebSocket.OPEN;

// Replay from before the oldest render still pending, else after the newest job seen.
function cursor() {
  const jobs = entries.filter((entry) => entry.job);
  const pending = jobs.filter((entry) => entry.rendering).map((entry) => entry.job);
  if (pending.length) return Math.min(...pending) - 1;
  return Math.max(newestJob, ...jobs.map((entry) => entry.job));
}

function connect() {
  clearTimeout(retryTimer);
  retryTimer = 0;
  const url = new URL("ws", location.href);
  url.protocol = location.protocol === "https:" ? "wss:" : "ws:";
  url.search = new URLSearchParams({
    ...(conversation ? { conversation } : {}),
    since: cursor(),
    ...(tokenInUrls ? { token } : {}),
  });
  const current = (socket = new WebSocket(url));
  current.onmessage = (event) => receive(JSON.parse(event.data));
  current.onclose = (event) => {
    if (socket !== current) return;
    socket = null;
    online(false);
    if (event.code === 1009) notice("That message was too large for me.");
    if (event.code === 4401 && token && !tokenInUrls) {
      tokenInUrls = true; // no session cookie: fall back to the token in the URL
      return connect();
    }
    if (FINAL_CLOSE_CODES.includes(event.code)) {
      closedForGood = true;
      connection.textContent = "Not connected";
      return;
    }
    const delay = Math.min(15000, 500 * 2 ** retries++) * (0.8 + Math.random() * 0.4);
    connection.textContent = "Reconnecting…";
    connectionNotice();
    retryTimer = setTimeout(connect, delay);
  };
}

function reconnectNow() {
  if (socket || closedForGood) return;
  retries = 0;
  connect();
}
addEventListener("online", reconnectNow);

function online(on) {
  ready = on;
  connection.textContent = on ? "Online" : "Connecting…";
  connection.classList.toggle("online", on);
  recordButton.disabled = !on || !canRecord;
}

// Queue a frame; it goes out now when connected, else once the page reconnects.
function deliver(frame, { early = false } = {}) {
  outbox.add(frame, { early });
  if (isOnline()) outbox.flush(socket);
  else reconnectNow();
}

const ASKS = new Set(["text", "audio", "image", "command"]); // frames the bot answers under them

function sent(frame) {
  if (!ASKS.has(frame.type)) return;
  upsert("user", frame.turn, { pending: false, note: "" });
  upsert("bot", frame.turn, { streaming: true });
}

function gaveUp(frame) {
  if (!ASKS.has(frame.type)) return;
  upsert("bot", frame.turn, { streaming: false, note: "No answer came — please send it again." });
}

function receive(message) {
  const { turn } = message;
  if (turn) outbox.acknowledge(turn);
  switch (message.type) {
    case "status":
      return status(message);
    case "transcript":
      return upsert("user", turn, { text: message.text, voice: true });
    case "delta":
      return upsert("bot", turn, { text: (find("bot", turn)?.text ?? "") + message.text, streaming: true });
    case "final":
    case "command":
      return upsert("bot", turn, { text: message.text, streaming: false });
    case "video":
      if (entries.some((entry) => entry.job === message.job && entry.video)) return; // a repeat
      return upsert("bot", turn || `job${message.job}`, { job: message.job, rendering: false, video: message.url, note: message.note }, { autoplay: true });
    case "voice":
      return voiceAnswer(message);
    case "error":
      return failure(message);
    case "face":
      return face.answered(message);
    case "stream_offer":
    case "stream":
      return live.handle(message);
  }
}

// A voice answer: an audio player under its answer (not kept in the stored entries: a reload
// shows the text, and the video if any).
function voiceAnswer(message) {
  const node = nodes.get(`bot:${message.turn}`);
  if (!node || node.querySelector("audio")) return;
  const audio = Object.assign(document.createElement("audio"), { controls: true, preload: "metadata" });
  audio.src = withToken(message.url);
  audio.addEventListener("loadedmetadata", view.grown, { once: true });
  node.append(audio);
  if (message.note) node.append(Object.assign(document.createElement("small"), { className: "voice-note", textContent: message.note }));
  view.reveal();
  audio.play().catch(() => {}); // the browser may want a tap first
}

function status(message) {
  if (message.state === "ready") {
    retries = 0;
    adopt(message.conversation);
    online(true);
    list.querySelectorAll(".notice.connection").forEach((node) => node.remove());
    configureAvatar(Boolean(message.avatar_available), Boolean(message.avatar));
    face.enable(Boolean(message.avatar_available));
    photo.enable(Boolean(message.photos));
    avatarMode = message.avatar_mode || "clip";
    live.configure(avatarMode, avatarSwitch.checked);
    outbox.flush(socket, { again: true });
  } else if (message.state === "rendering" && !find("bot", message.turn)?.video) {
    upsert("bot", message.turn, { job: message.job, rendering: true });
  } else if (message.state === "avatar") {
    avatarSwitch.checked = message.on;
    live.configure(avatarMode, message.on, { fresh: false });
    welcome();
  } else if (message.state === "reset" && carriedResets.delete(message.turn)) {
    ownResets.delete(message.turn);
    clearAll((entry) => outbox.has(entry.turn)); // keep only what went after the reset
  } else if (message.state === "reset" && !ownResets.delete(message.turn)) {
    clearAll(); // another tab reset the conversation
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

// -- the video switch and the welcome line ------------------------------------------------------

let avatarAvailable = null; // unknown until the server is ready

function configureAvatar(available, on) {
  avatarAvailable = available;
  avatarSwitch.disabled = false; // focusable either way, so that it can explain itself
  avatarSwitch.checked = available && on;
  avatarLabel.classList.toggle("unavailable", !available);
  avatarLabel.title = available ? VIDEO_TITLE : NO_VIDEO_TITLE;
  if (available) {
    avatarSwitch.removeAttribute("aria-disabled");
    avatarSwitch.removeAttribute("aria-describedby");
    avatarHint.hidden = true;
  } else {
    avatarSwitch.setAttribute("aria-disabled", "true");
    avatarSwitch.setAttribute("aria-describedby", "avatar-hint");
  }
  welcome();
}

function welcome() {
  const start = "Type a message or hold the microphone to talk. I answer in text at once";
  if (!avatarAvailable) emptyNote.textContent = `${start}.`;
  else if (avatarSwitch.checked) emptyNote.textContent = `${start}, then with a short video of me saying it.`;
  else emptyNote.textContent = `${start}; switch on Video to also get a short video of me saying it.`;
}

avatarSwitch.addEventListener("click", (event) => {
  if (avatarAvailable) return;
  event.preventDefault(); // it stays off: say why instead
  avatarHint.hidden = false;
});
avatarSwitch.addEventListener("focus", () => {
  if (avatarAvailable === false) avatarHint.hidden = false;
});
avatarSwitch.addEventListener("blur", () => {
  avatarHint.hidden = true;
});

avatarSwitch.addEventListener("change", () => {
  if (isOnline()) {
    socket.send(JSON.stringify({ type: "avatar", turn: newTurn(), on: avatarSwitch.checked }));
    return welcome();
  }
  avatarSwitch.checked = !avatarSwitch.checked;
  connectionNotice();
});

// -- reset, once confirmed -------------------------------------------------------------------

const confirmReset = $("#confirm-reset");

// A modal <dialog>: focus starts on Cancel and stays inside; Esc (the dialog's "cancel") or
// Cancel closes it with nothing forgotten, focus back on Reset.
resetButton.addEventListener("click", () => {
  confirmReset.returnValue = "";
  confirmReset.showModal();
});

confirmReset.addEventListener("close", () => {
  if (confirmReset.returnValue !== "clear") return resetButton.focus();
  clearAll();
  const turn = newTurn();
  ownResets.add(turn);
  deliver({ type: "reset", turn }, { early: true }); // the messages it kept are of after it
  announce("Conversation cleared.");
  input.focus();
});

// -- typing and talking -----------------------------------------------------------------------

function ask(frame, question) {
  live.interacted();
  live.ensure(); // a stream closed while idle opens again before the question goes out
  const waiting = !isOnline();
  upsert("user", frame.turn, { ...question, pending: waiting, note: waiting ? PENDING_NOTE : "" });
  view.reveal({ force: true });
  deliver(frame);
}

const voice = setUpVoice({
  button: recordButton,
  bar: $("#recording"),
  clock: $("#elapsed"),
  cancelButton: $("#cancel-recording"),
  composer: form,
  announce,
  notice: (text) => notice(text),
  send: sendAudio,
});

// /face's photo goes straight to the socket when it is open (never to the outbox).
const sendNow = (frame) => isOnline() && (socket.send(JSON.stringify({ ...frame, turn: newTurn() })), true);
const face = setUpFace({ button: $("#face"), picker: $("#face-file"), send: sendNow, notice });

form.addEventListener("submit", (event) => {
  event.preventDefault();
  if (voice.active()) return voice.stop();
  const text = input.value.trim();
  if (!text) return;
  // A line starting with "/" is a chat command (/help lists them), answered in its place.
  const type = /^\/\S/.test(text) ? "command" : "text";
  ask({ type, turn: newTurn(), text }, { text });
  input.value = "";
  autosize();
  if (!coarsePointer) input.focus();
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

// A photo goes with the message typed so far as its caption (the question about it).
const photo = setUpPhoto({
  button: $("#photo"),
  input: $("#photo-file"),
  notice: (text) => notice(text),
  send({ mime, data }) {
    const text = input.value.trim();
    ask({ type: "image", turn: newTurn(), mime, data, text }, { text: text ? `📷 ${text}` : "📷 Photo" });
    input.value = "";
    autosize();
  },
});

// -- start ------------------------------------------------------------------------------------

entries.forEach((entry) => render(entry, false));
view.reveal({ force: true });
if (!coarsePointer) input.focus();
connect();
