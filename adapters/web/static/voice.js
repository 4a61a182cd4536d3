// Voice messages: hold the microphone to talk, or click to start and click again to send.
// While recording, a bar shows the time; Esc or its Cancel button drops the recording.

const HOLD_MS = 400; // a longer press is hold-to-talk; a shorter one is click-to-record
const TYPES = ["audio/webm;codecs=opus", "audio/ogg;codecs=opus", "audio/webm", "audio/mp4"];

export const canRecord = Boolean(navigator.mediaDevices?.getUserMedia && window.MediaRecorder);

function clockText(seconds) {
  return `${Math.floor(seconds / 60)}:${String(seconds % 60).padStart(2, "0")}`;
}

// `send(blob)` gets each finished recording; `announce(text)` tells screen readers the state.
export function setUpVoice({ button, bar, clock, cancelButton, composer, announce, notice, send }) {
  let recorder = null;
  let starting = false;
  let afterStart = null; // "send" or "cancel", when asked to stop before the recorder started
  let cancelled = false;
  let pressedAt = 0;
  let ticker = 0;

  if (!canRecord) button.title = "Voice messages need https:// (or localhost) and a microphone";

  function show(on) {
    bar.hidden = !on;
    composer.classList.toggle("recording", on);
    button.classList.toggle("recording", on);
    button.setAttribute("aria-pressed", String(on));
    button.setAttribute("aria-label", on ? "Stop and send the voice message" : "Record a voice message");
    clearInterval(ticker);
    if (!on) return;
    const startedAt = performance.now();
    const tick = () => {
      const seconds = Math.floor((performance.now() - startedAt) / 1000);
      clock.textContent = clockText(seconds);
      clock.dateTime = `PT${seconds}S`;
    };
    tick();
    ticker = setInterval(tick, 250);
  }

  async function start() {
    starting = true;
    afterStart = null;
    cancelled = false;
    let stream;
    try {
      stream = await navigator.mediaDevices.getUserMedia({ audio: true });
    } catch (error) {
      starting = false;
      return notice(`No microphone: ${error.message}`);
    }
    const stopTracks = () => stream.getTracks().forEach((track) => track.stop());
    if (afterStart === "cancel") {
      starting = false;
      stopTracks();
      return announce("Recording cancelled.");
    }
    const type = TYPES.find((candidate) => MediaRecorder.isTypeSupported(candidate));
    const chunks = [];
    let recorded = 0;
    recorder = new MediaRecorder(stream, type ? { mimeType: type } : {});
    recorder.ondataavailable = (event) => {
      if (!event.data.size) return;
      chunks.push(event.data);
      recorded += event.data.size;
      button.dataset.recorded = recorded; // bytes captured so far
    };
    recorder.onstart = () => {
      starting = false;
      button.dataset.recorded = 0;
      show(true);
      announce("Recording. Press Escape to cancel.");
      if (afterStart) finish(afterStart === "send");
    };
    recorder.onstop = () => {
      stopTracks();
      show(false);
      delete button.dataset.recorded;
      const blob = new Blob(chunks, { type: recorder.mimeType || type || "audio/webm" });
      recorder = null;
      if (cancelled) return announce("Recording cancelled.");
      announce("Sending the voice message.");
      send(blob);
    };
    recorder.start(250); // hand over data every 250 ms, not only at the end
  }

  // Stop recording, and send what was recorded (`keep`) or drop it.
  function finish(keep) {
    if (recorder?.state === "recording") {
      cancelled = !keep;
      recorder.stop();
    } else if (starting) {
      afterStart = keep ? "send" : "cancel";
    }
  }

  const active = () => Boolean(recorder || starting);

  button.addEventListener("pointerdown", (event) => {
    if (event.button !== 0) return;
    button.setPointerCapture(event.pointerId);
    if (active()) return finish(true);
    pressedAt = performance.now();
    start();
  });
  button.addEventListener("pointerup", () => {
    if (pressedAt && performance.now() - pressedAt > HOLD_MS) finish(true);
    pressedAt = 0;
  });
  button.addEventListener("click", (event) => {
    if (event.detail !== 0) return; // pointer clicks are handled above; this is the keyboard
    if (active()) finish(true);
    else start();
  });
  button.addEventListener("contextmenu", (event) => event.preventDefault());
  cancelButton.addEventListener("click", () => finish(false));
  document.addEventListener("keydown", (event) => {
    if (event.key !== "Escape" || !active()) return;
    event.preventDefault();
    finish(false);
  });

  return { active, stop: () => finish(true) };
}
