// Following the conversation: down to each new message, unless the reader scrolled up; then a
// "New messages" button takes them down.

const NEAR_BOTTOM_PX = 40;

export function follow(list, jump) {
  let following = true;
  const scrollDown = () => {
    list.scrollTop = list.scrollHeight;
  };

  list.addEventListener("scroll", () => {
    following = list.scrollHeight - list.scrollTop - list.clientHeight < NEAR_BOTTOM_PX;
    if (following) jump.hidden = true;
  });
  // The list shrinks when the message box grows: keep the last message in sight.
  new ResizeObserver(() => following && scrollDown()).observe(list);
  jump.addEventListener("click", () => {
    following = true;
    scrollDown();
    jump.hidden = true;
  });

  return {
    // Something new at the bottom: show it, or offer to (`force`: the reader's own message).
    reveal({ force = false } = {}) {
      if (force) following = true;
      if (following) scrollDown();
      else jump.hidden = false;
    },
    // Content grew at the bottom (a video's size is known): keep it in sight if following.
    grown() {
      if (following) scrollDown();
    },
  };
}
