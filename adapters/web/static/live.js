// The live avatar: a WebRTC stream from D-ID, signalled through the chat's WebSocket
// (docs/websocket.md, "The live avatar"). Media come straight from D-ID; the server holds the key.

const ICE_BATCH_MS = 100; // candidates gathered within this go in one frame
const STATES = {
  opening: "Connecting the live avatar…",
  offered: "Connecting the live avatar…",
  live: "Live",
  idle: "Resting — wakes with your next message",
  closed: "Live avatar off",
  failed: "Live avatar off — videos come as clips",
};

export function setUpLive({ section, video, label, muteButton, send, notice }) {
  const supported = typeof RTCPeerConnection === "function";
  let mode = "clip";
  let wanted = false; // the server streams, the avatar switch is on and WebRTC is there
  let givenUp = false; // auto mode after a failure: clips for the rest of this page's life
  let opening = false;
  let number = 0; // the stream the server last named
  let pc = null;
  let candidates = [];
  let gathered = false;
  let batch = 0;
  let userMuted = false;

  function show(state) {
    section.dataset.state = state;
    label.textContent = STATES[state] ?? state;
  }

  function setMuted(muted) {
    video.muted = muted;
    muteButton.textContent = muted ? "Unmute" : "Mute";
    muteButton.setAttribute("aria-pressed", String(muted));
  }
  setMuted(true); // autoplay: muted until the user has interacted with the page

  muteButton.addEventListener("click", () => {
    userMuted = !video.muted;
    setMuted(userMuted);
    if (!userMuted) video.play().catch(() => {});
  });

  // A send is an interaction: the avatar may speak up now (unless muted by hand).
  function interacted() {
    if (!userMuted && video.muted) {
      setMuted(false);
      video.play().catch(() => {});
    }
  }

  function drop() {
    clearTimeout(batch);
    batch = 0;
    candidates = [];
    gathered = false;
    if (pc) pc.close();
    pc = null;
    video.srcObject = null;
  }

  // After `ready` (or a switch): start afresh, a new socket has no stream.
  function configure(serverMode, on, { fresh = true } = {}) {
    const had = pc || opening;
    mode = serverMode;
    wanted = supported && mode !== "clip" && on;
    section.hidden = !wanted;
    if (!fresh && had && !wanted) send({ type: "stream_close", stream: number }); // switched off
    if (!fresh && had && wanted) return; // still on: keep the stream
    opening = false;
    drop();
    if (wanted && !givenUp) open();
  }

  function open() {
    if (!wanted || givenUp || pc || opening) return;
    if (send({ type: "stream_open" })) {
      opening = true;
      show("opening");
    }
  }

  // Before a question goes out: reopen a stream closed while idle.
  function ensure() {
    if (wanted && !givenUp && !pc && !opening) open();
  }

  async function connect(message) {
    opening = false;
    drop();
    number = message.stream;
    const stream = new MediaStream();
    pc = new RTCPeerConnection({ iceServers: message.ice_servers || [] });
    const current = pc;
    current.addEventListener("track", (event) => {
      stream.addTrack(event.track);
      if (video.srcObject !== stream) video.srcObject = stream;
      video.play().catch(() => {});
    });
    current.addEventListener("icecandidate", (event) => {
      if (event.candidate && event.candidate.candidate) candidates.push(event.candidate.toJSON());
      else if (!event.candidate) gathered = true;
      if (!batch) batch = setTimeout(() => flushCandidates(current), ICE_BATCH_MS);
    });
    current.addEventListener("connectionstatechange", () => {
      if (pc !== current) return;
      const state = current.connectionState;
      if (state === "connected" || state === "failed") send({ type: "stream_state", stream: number, state });
    });
    try {
      await current.setRemoteDescription(message.offer);
      const answer = await current.createAnswer();
      await current.setLocalDescription(answer);
      send({ type: "stream_answer", stream: number, answer: { type: "answer", sdp: answer.sdp } });
    } catch (error) {
      if (pc === current) send({ type: "stream_state", stream: number, state: "failed" });
    }
  }

  function flushCandidates(current) {
    batch = 0;
    if (pc !== current || (!candidates.length && !gathered)) return;
    send({ type: "stream_ice", stream: number, candidates: candidates.splice(0), done: gathered });
    gathered = false;
  }

  function handle(message) {
    if (message.type === "stream_offer") return connect(message);
    if (message.stream < number) return; // about an older stream (the server counts up)
    number = message.stream;
    const { state } = message;
    if (["idle", "closed", "failed"].includes(state)) {
      opening = false;
      drop();
    }
    if (state === "failed" && mode === "auto") givenUp = true;
    if (message.message) notice(message.message);
    show(state);
  }

  return { configure, ensure, interacted, handle, live: () => section.dataset.state === "live" };
}
