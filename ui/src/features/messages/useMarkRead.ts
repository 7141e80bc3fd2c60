/**
 * Read receipts from the window: a message of the other participant counts as read once
 * it has been on screen (60 % of its bubble inside the scrolling list, or 60 % of the list
 * for a taller bubble) while the window is focused and visible — not merely loaded.
 *
 * The list element appears only after the history has loaded, older pages are put on
 * top, new messages arrive at the bottom: so the observers are (re)built whenever the
 * list element itself changes (`root` is state, not a ref read once), and a
 * MutationObserver hands every `[data-unread-id]` element that appears later — or whose
 * attribute changes — to the IntersectionObserver. Receipts are collected for
 * `RECEIPT_BATCH_MS` and sent as one `mark_read({ messageIds })` (the WebSocket `read`
 * frame takes at most `RECEIPT_BATCH_MAX` ids). A failed batch is asked again at the
 * next change (scroll, focus, message). Without IntersectionObserver (old engines,
 * jsdom) every rendered unread element counts as visible.
 */
import { useEffect, useRef, useState } from 'react';
import type { UiMessage } from '../../api';

export const RECEIPT_BATCH_MS = 300;
export const RECEIPT_BATCH_MAX = 100;
const UNREAD_SELECTOR = '[data-unread-id]';

function windowIsFocused(): boolean {
  return document.visibilityState !== 'hidden' && document.hasFocus();
}

export function useWindowFocus(): boolean {
  const [focused, setFocused] = useState(windowIsFocused);
  useEffect(() => {
    const update = () => setFocused(windowIsFocused());
    window.addEventListener('focus', update);
    window.addEventListener('blur', update);
    document.addEventListener('visibilitychange', update);
    return () => {
      window.removeEventListener('focus', update);
      window.removeEventListener('blur', update);
      document.removeEventListener('visibilitychange', update);
    };
  }, []);
  return focused;
}

/**
 * A message of the other participant not read yet. A `system` message (the doctor closed
 * or reopened the conversation) is addressed to the patient and counts in their unread
 * total like any other: the patient's window marks it read; nobody else may.
 */
export function needsReadReceipt(message: UiMessage, meId: string): boolean {
  return (
    message.sender.id !== meId &&
    message.id !== '' &&
    message.status !== 'read' &&
    !message.deletedAt &&
    message.local === undefined &&
    (message.type !== 'system' || message.recipient.id === meId)
  );
}

/** Share of a bubble that must be inside the list for it to count as seen. */
export const VISIBLE_RATIO = 0.6;

/**
 * Seen: most of the bubble is in view — or, for a bubble taller than the list, it fills
 * most of the list (its own ratio can then never reach VISIBLE_RATIO).
 */
export function isSeen(entry: Pick<IntersectionObserverEntry, 'isIntersecting' | 'intersectionRatio' | 'intersectionRect' | 'rootBounds'>): boolean {
  if (!entry.isIntersecting) return false;
  if (entry.intersectionRatio >= VISIBLE_RATIO) return true;
  const root = entry.rootBounds;
  return root !== null && root.height > 0 && entry.intersectionRect.height >= root.height * VISIBLE_RATIO;
}

/** Splits ids into batches the `read` frame accepts. */
export function receiptBatches(ids: string[], max = RECEIPT_BATCH_MAX): string[][] {
  const batches: string[][] = [];
  for (let i = 0; i < ids.length; i += max) batches.push(ids.slice(i, i + max));
  return batches;
}

type MarkReadOptions = {
  /** The scrolling list (null while the history loads). */
  root: HTMLElement | null;
  messages: UiMessage[];
  meId: string;
  /** Sends one batch; resolves `false` when it failed. */
  markRead: (messageIds: string[]) => Promise<boolean>;
  /** False while nothing can be written (read-only session): receipts wait. */
  enabled?: boolean;
  /** Changes when the link changes (reconnected…): what failed is asked again. */
  retryKey?: unknown;
};

export function useMarkRead({ root, messages, meId, markRead, enabled = true, retryKey }: MarkReadOptions): void {
  const focused = useWindowFocus();
  const hasObserver = typeof IntersectionObserver !== 'undefined';
  /** Ids whose element is on screen now (IntersectionObserver); unused without it. */
  const visible = useRef(new Set<string>());
  /** Ids already sent (or in flight): never sent twice. */
  const requested = useRef(new Set<string>());
  const timer = useRef<ReturnType<typeof setTimeout> | undefined>(undefined);
  const latest = useRef({ root, messages, meId, markRead, focused, hasObserver, enabled });
  latest.current = { root, messages, meId, markRead, focused, hasObserver, enabled };

  const flush = useRef(() => {
    timer.current = undefined;
    const { root: el, messages: list, meId: me, markRead: send, focused: isFocused, hasObserver: observing, enabled: canSend } = latest.current;
    if (!el || !canSend || !isFocused || !windowIsFocused()) return;
    const onScreen = observing
      ? visible.current
      : new Set(Array.from(el.querySelectorAll<HTMLElement>(UNREAD_SELECTOR), (node) => node.dataset.unreadId ?? ''));
    const ids = list
      .filter((m) => needsReadReceipt(m, me) && onScreen.has(m.id) && !requested.current.has(m.id))
      .map((m) => m.id);
    for (const batch of receiptBatches(ids)) {
      batch.forEach((id) => requested.current.add(id));
      void send(batch).then((ok) => {
        if (!ok) batch.forEach((id) => requested.current.delete(id));
      });
    }
  });

  const schedule = useRef(() => {
    if (timer.current === undefined) timer.current = setTimeout(() => flush.current(), RECEIPT_BATCH_MS);
  });

  useEffect(() => () => clearTimeout(timer.current), []);

  // Observe the list element as soon as it exists, and every unread bubble it ever holds.
  useEffect(() => {
    if (!root) return undefined;
    const seen = visible.current;
    let intersections: IntersectionObserver | undefined;
    if (hasObserver) {
      intersections = new IntersectionObserver(
        (entries) => {
          for (const entry of entries) {
            const id = (entry.target as HTMLElement).dataset.unreadId;
            if (!id) continue;
            if (isSeen(entry)) seen.add(id);
            else seen.delete(id);
          }
          schedule.current();
        },
        { root, threshold: [0, 0.25, 0.5, VISIBLE_RATIO, 0.75, 1] },
      );
    }
    const watch = (node: Node) => {
      if (!(node instanceof HTMLElement)) return;
      const targets = node.matches(UNREAD_SELECTOR) ? [node] : [];
      targets.push(...node.querySelectorAll<HTMLElement>(UNREAD_SELECTOR));
      targets.forEach((el) => intersections?.observe(el));
      if (targets.length > 0) schedule.current();
    };
    watch(root);
    const mutations = new MutationObserver((records) => {
      for (const record of records) {
        if (record.type === 'attributes') {
          const el = record.target as HTMLElement;
          if (el.dataset.unreadId) watch(el);
          else if (intersections) {
            intersections.unobserve(el);
            // The attribute held the id that is no longer unread.
            if (record.oldValue) seen.delete(record.oldValue);
          }
        } else {
          record.addedNodes.forEach(watch);
          record.removedNodes.forEach((node) => {
            if (!(node instanceof HTMLElement) || !intersections) return;
            [node, ...node.querySelectorAll<HTMLElement>(UNREAD_SELECTOR)].forEach((el) => {
              intersections?.unobserve(el);
              if (el.dataset.unreadId) seen.delete(el.dataset.unreadId);
            });
          });
        }
      }
    });
    mutations.observe(root, { subtree: true, childList: true, attributes: true, attributeFilter: ['data-unread-id'], attributeOldValue: true });
    return () => {
      mutations.disconnect();
      intersections?.disconnect();
      seen.clear();
    };
  }, [root, hasObserver]);

  // Focus regained, the list changed (a receipt failed, a status arrived), writing is
  // possible again or the link came back: look again.
  useEffect(() => {
    if (focused && enabled) schedule.current();
  }, [focused, messages, enabled, retryKey]);
}
