// "/voice" typed on the web page: the avatar's voices for the browser's language, or one picked.
// Like /face, it goes straight to the socket, not to the outbox. docs/websocket.md: `voices`.
const COMMAND = /^\/voice(?:\s+([\s\S]*))?$/i;
const OFFLINE = "Not connected — send /voice again once the page is online.";

export function setUpVoiceChoice({ send, notice }) {
  return {
    // Whether `text` is a /voice command (then it is sent as one, not as a question).
    handles(text) {
      const match = COMMAND.exec(text.trim());
      if (!match) return false;
      const frame = { type: "voices", voice: (match[1] ?? "").trim(), lang: navigator.language };
      if (!send(frame)) notice(OFFLINE);
      return true;
    },
    answered(message) {
      notice(message.message, { kind: "voice" });
    },
  };
}
