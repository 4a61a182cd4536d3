// Local storage under `avatarbot.*`, and random ids.

export const store = {
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
export const newTurn = () => `t${randomId(6)}`;
