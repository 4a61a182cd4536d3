// Frames waiting for the socket, or sent and not answered yet. Text frames and resets survive a
// reload (in local storage); recordings and photos are kept in memory only. A frame sent on a socket that
// died before any answer goes once more after the reconnect (the server answers a turn once).

import { store } from "./store.js";

const MAX_SENDS = 2;
const MEDIA = ["audio", "image"]; // megabytes of base64: kept in memory, not in local storage

// `sent(frame)` after each send; `gaveUp(frame)` for a frame sent MAX_SENDS times, unanswered.
export function createOutbox({ sent, gaveUp }) {
  let items = store.get("outbox", []).filter((item) => item?.frame?.turn);
  const save = () => store.set("outbox", items.filter((item) => !MEDIA.includes(item.frame.type)));

  return {
    frames: () => items.map((item) => item.frame),
    has: (turn) => items.some((item) => item.frame.turn === turn),
    unsent: (turn) => items.some((item) => item.frame.turn === turn && !item.sends),

    // An `early` frame goes before the frames still waiting (a reset before later messages).
    add(frame, { early = false } = {}) {
      const waiting = items.findIndex((item) => !item.sends);
      items.splice(early && waiting >= 0 ? waiting : items.length, 0, { frame, sends: 0 });
      save();
    },

    // Send what waits; after a reconnect (`again`), also what went out but got no answer.
    flush(socket, { again = false } = {}) {
      const kept = [];
      for (const item of items) {
        if (item.sends && !again) {
          kept.push(item);
        } else if (item.sends >= MAX_SENDS) {
          gaveUp(item.frame);
        } else {
          socket.send(JSON.stringify(item.frame));
          item.sends += 1;
          kept.push(item);
          sent(item.frame);
        }
      }
      items = kept;
      save();
    },

    acknowledge(turn) {
      const before = items.length;
      items = items.filter((item) => item.frame.turn !== turn);
      if (items.length !== before) save();
    },
  };
}
