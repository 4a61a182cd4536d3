// /face on the web page: a photo picked here becomes the avatar's face in this conversation.
// The frame goes straight to the socket, never to the outbox (kept in local storage): a photo
// of megabytes would not fit there. docs/websocket.md describes the `face` frame.
const MAX_FACE_BYTES = 10 * 1024 * 1024; // D-ID's limit; the server may allow less
const TYPES = ["image/jpeg", "image/png"];
const OFFLINE = "Not connected — pick the photo again once the page is online.";

function base64(file) {
  return new Promise((resolve, reject) => {
    const reader = new FileReader();
    reader.onload = () => resolve(reader.result.slice(reader.result.indexOf(",") + 1));
    reader.onerror = () => reject(reader.error);
    reader.readAsDataURL(file);
  });
}

export function setUpFace({ button, picker, send, notice }) {
  const reset = () => send({ type: "face", reset: true }) || notice(OFFLINE);

  button.addEventListener("click", () => picker.click());
  picker.addEventListener("change", async () => {
    const file = picker.files?.[0];
    picker.value = ""; // the same photo can be picked again
    if (!file) return;
    if (!TYPES.includes(file.type)) return notice("The avatar needs a JPEG or PNG photo.");
    if (file.size > MAX_FACE_BYTES) return notice("That photo is too large for the avatar: 10 MB at most.");
    button.disabled = true;
    try {
      if (!send({ type: "face", data: await base64(file) })) notice(OFFLINE);
    } finally {
      button.disabled = false;
    }
  });

  return {
    enable(available) {
      button.hidden = !available;
    },
    answered(message) {
      button.classList.toggle("own", Boolean(message.face));
      const action = message.face ? { label: "Default face", run: reset } : null;
      notice(message.message, { action });
    },
  };
}
