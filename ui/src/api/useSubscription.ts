/**
 * React glue for the typed event subscriptions: subscribes on mount, always calls the
 * latest handler, and unsubscribes even when unmounted before `listen` resolved.
 */
import { useEffect, useRef } from 'react';
import type { Subscribe } from './events';

export function useSubscription<T>(subscribe: Subscribe<T>, handler: (payload: T) => void, enabled = true): void {
  const handlerRef = useRef(handler);
  handlerRef.current = handler;

  useEffect(() => {
    if (!enabled) return undefined;
    let active = true;
    let unsubscribe: (() => void) | undefined;
    subscribe((payload) => {
      if (active) handlerRef.current(payload);
    })
      .then((unsub) => {
        if (active) unsubscribe = unsub;
        else unsub();
      })
      .catch(() => undefined);
    return () => {
      active = false;
      unsubscribe?.();
    };
  }, [subscribe, enabled]);
}
