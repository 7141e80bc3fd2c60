/**
 * The slice of a conversation the message list puts in the page (docs/desktop-ipc.md,
 * "Message list window"). The DOM is what costs memory in the webview (a bubble is a
 * few kB of layout, styles and text nodes; the `UiMessage` behind it a few hundred bytes
 * of JS), so every loaded message stays in the conversation's state and the list renders
 * at most `MAX_RENDERED_MESSAGES` consecutive ones of them — like Element's timeline
 * window. `load_history` only pages backwards (`before`), so messages dropped at the
 * newer end could not be fetched again: keeping them in memory and windowing by index
 * range is the honest design, and it brings them back without a request.
 *
 * The window is held as message keys, not indices, so that pages put on top, arrivals,
 * acks (local → acked keeps its `clientMessageId` key) and discards move it correctly:
 * `startKey === null` means "from the oldest loaded message" (an older page that arrives
 * is shown), `endKey === null` means "to the newest" (the live end: arrivals are shown).
 */
import type { UiMessage } from '../../api';
import { messageKey } from './conversationState';

/** The most message bubbles the list keeps in the page. */
export const MAX_RENDERED_MESSAGES = 100;
/** How many messages a scroll past either end of the window brings back in. */
export const WINDOW_STEP = 50;

export type MessageWindow = { startKey: string | null; endKey: string | null };

/** `[start, end)` indices of the rendered messages in `messages`. */
export type WindowRange = { start: number; end: number };

function indexOfKey(messages: UiMessage[], key: string): number {
  for (let i = messages.length - 1; i >= 0; i -= 1) if (messageKey(messages[i]!) === key) return i;
  return -1;
}

/**
 * The range a window covers now. A key that is gone (a discarded message) falls back to
 * the live end, or to `MAX_RENDERED_MESSAGES` before the end. The range may exceed the
 * cap right after arrivals or a page: the list trims it after measuring (`trimWindow`).
 */
export function windowRange(messages: UiMessage[], win: MessageWindow): WindowRange {
  const n = messages.length;
  let end = n;
  if (win.endKey !== null) {
    const i = indexOfKey(messages, win.endKey);
    if (i !== -1) end = i + 1;
  }
  let start = 0;
  if (win.startKey !== null) {
    const i = indexOfKey(messages, win.startKey);
    start = i !== -1 && i < end ? i : Math.max(0, end - MAX_RENDERED_MESSAGES);
  }
  return { start, end };
}

/** The window covering `[start, end)`. */
export function windowOf(messages: UiMessage[], { start, end }: WindowRange): MessageWindow {
  return {
    startKey: start <= 0 ? null : messageKey(messages[start]!),
    endKey: end >= messages.length ? null : messageKey(messages[end - 1]!),
  };
}

/**
 * Brings a window over the cap back to it: a reader at the bottom of the rendered list
 * (following the live end, or who scrolled down to the newer end) loses the oldest
 * bubbles; a reader higher up (who scrolled up, or reads while messages arrive) loses
 * the newest. Returns null when the window is within the cap.
 */
export function trimWindow(messages: UiMessage[], win: MessageWindow, atBottom: boolean): MessageWindow | null {
  const { start, end } = windowRange(messages, win);
  if (end - start <= MAX_RENDERED_MESSAGES) return null;
  return atBottom
    ? windowOf(messages, { start: end - MAX_RENDERED_MESSAGES, end })
    : windowOf(messages, { start, end: start + MAX_RENDERED_MESSAGES });
}

/** The window after the reader scrolled up to its top: `WINDOW_STEP` older messages from memory. */
export function extendOlder(messages: UiMessage[], win: MessageWindow): MessageWindow {
  const { start, end } = windowRange(messages, win);
  return windowOf(messages, { start: Math.max(0, start - WINDOW_STEP), end });
}

/** The window after the reader scrolled down to its bottom: `WINDOW_STEP` newer messages. */
export function extendNewer(messages: UiMessage[], win: MessageWindow): MessageWindow {
  const { start, end } = windowRange(messages, win);
  return windowOf(messages, { start, end: Math.min(messages.length, end + WINDOW_STEP) });
}

/** The live end: the newest `MAX_RENDERED_MESSAGES` messages. */
export function liveWindow(messages: UiMessage[]): MessageWindow {
  return windowOf(messages, { start: Math.max(0, messages.length - MAX_RENDERED_MESSAGES), end: messages.length });
}

/** A window with the message at `index` in its middle (a search result). */
export function windowAround(messages: UiMessage[], index: number): MessageWindow {
  const start = Math.max(0, Math.min(index - MAX_RENDERED_MESSAGES / 2, messages.length - MAX_RENDERED_MESSAGES));
  return windowOf(messages, { start, end: Math.min(messages.length, start + MAX_RENDERED_MESSAGES) });
}
