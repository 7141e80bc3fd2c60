/**
 * Typing indicators both ways. Outgoing: `set_typing` true at most once a second while
 * the user types, false when they send, leave the field, empty it or stop for a while.
 * Incoming: `dmp://typing` from the other participant, with a safety timeout in case
 * the "stopped" event is lost.
 */
import { useCallback, useEffect, useRef, useState } from 'react';
import { commands, events, useSubscription, type ContextRef, type Participant } from '../../api';

export const TYPING_THROTTLE_MS = 1000;
const TYPING_IDLE_MS = 5000;
const TYPING_DISPLAY_TIMEOUT_MS = 8000;

export function useTypingSender(context: ContextRef) {
  const lastSent = useRef(0);
  const typing = useRef(false);
  const idle = useRef<ReturnType<typeof setTimeout> | undefined>(undefined);
  const { type: contextType, id: contextId } = context;

  const stop = useCallback(() => {
    clearTimeout(idle.current);
    if (!typing.current) return;
    typing.current = false;
    lastSent.current = 0;
    void commands.setTyping({ contextType, contextId, isTyping: false }).catch(() => undefined);
  }, [contextType, contextId]);

  const onInput = useCallback(
    (text: string) => {
      if (text.trim() === '') {
        stop();
        return;
      }
      clearTimeout(idle.current);
      idle.current = setTimeout(stop, TYPING_IDLE_MS);
      const now = Date.now();
      if (typing.current && now - lastSent.current < TYPING_THROTTLE_MS) return;
      typing.current = true;
      lastSent.current = now;
      void commands.setTyping({ contextType, contextId, isTyping: true }).catch(() => undefined);
    },
    [contextType, contextId, stop],
  );

  // Leaving the conversation while typing must not leave the peer staring at "…".
  useEffect(() => stop, [stop]);

  return { onInput, stop };
}

export function useTypingIndicator(context: ContextRef, meId: string) {
  const [typists, setTypists] = useState<Participant[]>([]);
  const timers = useRef(new Map<string, ReturnType<typeof setTimeout>>());

  const clear = useCallback((userId: string) => {
    clearTimeout(timers.current.get(userId));
    timers.current.delete(userId);
    setTypists((list) => (list.some((p) => p.id === userId) ? list.filter((p) => p.id !== userId) : list));
  }, []);

  useSubscription(events.onTyping, (event) => {
    if (event.contextType !== context.type || event.contextId !== context.id || event.user.id === meId) return;
    if (!event.isTyping) {
      clear(event.user.id);
      return;
    }
    clearTimeout(timers.current.get(event.user.id));
    timers.current.set(
      event.user.id,
      setTimeout(() => clear(event.user.id), TYPING_DISPLAY_TIMEOUT_MS),
    );
    setTypists((list) => (list.some((p) => p.id === event.user.id) ? list : [...list, event.user]));
  });

  // A message from someone means they stopped typing it.
  useSubscription(events.onMessage, (message) => {
    if (message.context.type === context.type && message.context.id === context.id) clear(message.sender.id);
  });

  useEffect(() => {
    const map = timers.current;
    return () => map.forEach((timer) => clearTimeout(timer));
  }, []);

  return typists;
}
