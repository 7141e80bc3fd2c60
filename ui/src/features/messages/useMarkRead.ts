/**
 * Marks the other participant's messages read once they are actually on screen and the
 * window has focus — not merely loaded. Without IntersectionObserver (tests, old
 * engines) every rendered message counts as visible.
 */
import { useEffect, useRef, useState, type RefObject } from 'react';
import type { Message } from '../../api';

export function useWindowFocus(): boolean {
  const read = () => document.visibilityState !== 'hidden' && document.hasFocus();
  const [focused, setFocused] = useState(read);
  useEffect(() => {
    const update = () => setFocused(read());
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

export function needsReadReceipt(message: Message, meId: string): boolean {
  return (
    message.sender.id !== meId &&
    message.id !== '' &&
    message.status !== 'read' &&
    !message.deletedAt &&
    !message.pending &&
    !message.failed &&
    message.type !== 'system'
  );
}

export function useMarkRead(
  rootRef: RefObject<HTMLElement | null>,
  messages: Message[],
  meId: string,
  markRead: (messageId: string) => Promise<boolean>,
): void {
  const focused = useWindowFocus();
  const visible = useRef(new Set<string>());
  const requested = useRef(new Set<string>());
  const observer = useRef<IntersectionObserver | null>(null);
  const [visibility, setVisibility] = useState(0);
  const hasObserver = typeof IntersectionObserver !== 'undefined';

  useEffect(() => {
    if (!hasObserver || !rootRef.current) return undefined;
    observer.current = new IntersectionObserver(
      (entries) => {
        for (const entry of entries) {
          const id = (entry.target as HTMLElement).dataset.unreadId;
          if (!id) continue;
          if (entry.isIntersecting) visible.current.add(id);
          else visible.current.delete(id);
        }
        setVisibility((v) => v + 1);
      },
      { root: rootRef.current, threshold: 0.6 },
    );
    return () => observer.current?.disconnect();
  }, [hasObserver, rootRef]);

  useEffect(() => {
    if (!observer.current || !rootRef.current) return;
    rootRef.current.querySelectorAll<HTMLElement>('[data-unread-id]').forEach((el) => observer.current!.observe(el));
  }, [messages, rootRef]);

  useEffect(() => {
    if (!focused) return;
    for (const message of messages) {
      if (!needsReadReceipt(message, meId) || requested.current.has(message.id)) continue;
      if (hasObserver && !visible.current.has(message.id)) continue;
      requested.current.add(message.id);
      void markRead(message.id).then((ok) => {
        if (!ok) requested.current.delete(message.id);
      });
    }
  }, [messages, focused, visibility, meId, markRead, hasObserver]);
}
