// The photo button: pick an image, check it against what the server takes, and hand it over as
// base64 (the `image` frame, docs/websocket.md). Shown only when the server answers photos.

export const MAX_IMAGE_BYTES = 2_800_000; // a Groq vision request carries 4 MB of base64 at most
const TYPES = ["image/jpeg", "image/png", "image/webp", "image/gif"];

export function setUpPhoto({ button, input, notice, send }) {
  button.addEventListener("click", () => input.click());
  input.addEventListener("change", async () => {
    const file = input.files?.[0];
    input.value = ""; // the same file can be picked again
    if (!file) return;
    if (!TYPES.includes(file.type)) return notice("I can look at JPEG, PNG, WebP or GIF photos.");
    if (file.size > MAX_IMAGE_BYTES) return notice("That photo is too big for me: I can look at images up to 2.8 MB.");
    send({ mime: file.type, data: await base64(file) });
  });
  return {
    enable(on) {
      button.hidden = !on;
    },
  };
}

function base64(blob) {
  return new Promise((resolve, reject) => {
    const reader = new FileReader();
    reader.onload = () => resolve(reader.result.slice(reader.result.indexOf(",") + 1));
    reader.onerror = () => reject(reader.error);
    reader.readAsDataURL(blob);
  });
}
