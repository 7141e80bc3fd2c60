/**
 * The signed-in user's records with their conversation summaries (`list_contexts`),
 * refreshed shortly after any new message or unread change so counters stay right.
 */
import { useCallback, useEffect, useRef, useState } from 'react';
import { commands, errorCode, events, useSubscription, type ContextRef, type ContextSummary, type ErrorCode, type Participant, type User } from '../../api';

const REFRESH_DELAY_MS = 250;

export function lastActivity(context: ContextSummary): string | undefined {
  return context.lastMessageAt ?? context.session?.lastActivity;
}

/** Doctor's inbox order: urgent unread first, then most recent activity, then never-used records. */
export function sortForInbox(items: ContextSummary[]): ContextSummary[] {
  return [...items].sort((a, b) => {
    const urgent = Number(Boolean(b.hasUrgentUnread && b.unreadCount > 0)) - Number(Boolean(a.hasUrgentUnread && a.unreadCount > 0));
    if (urgent !== 0) return urgent;
    const aTime = lastActivity(a);
    const bTime = lastActivity(b);
    if (aTime && bTime) return Date.parse(bTime) - Date.parse(aTime);
    if (aTime) return -1;
    if (bTime) return 1;
    return b.date.localeCompare(a.date);
  });
}

export function sameContext(a: ContextRef, b: ContextRef): boolean {
  return a.type === b.type && a.id === b.id;
}

export function findContext(items: ContextSummary[], ref: ContextRef | null): ContextSummary | undefined {
  return ref ? items.find((c) => sameContext(c, ref)) : undefined;
}

/** The other participant of a record, seen from `me`. */
export function peerOf(context: ContextSummary, me: User): Participant {
  return me.id === context.patient.id ? context.doctor : context.patient;
}

/** Everyone the user talks to, once each (for safety codes). */
export function peersOf(items: ContextSummary[], me: User): Participant[] {
  const seen = new Map<string, Participant>();
  for (const context of items) {
    const peer = peerOf(context, me);
    if (!seen.has(peer.id)) seen.set(peer.id, peer);
  }
  return [...seen.values()].sort((a, b) => a.name.localeCompare(b.name));
}

export function useContexts() {
  const [items, setItems] = useState<ContextSummary[]>([]);
  const [status, setStatus] = useState<'loading' | 'ready' | 'error'>('loading');
  const [error, setError] = useState<ErrorCode | null>(null);
  const timer = useRef<ReturnType<typeof setTimeout> | undefined>(undefined);
  const mounted = useRef(true);

  const reload = useCallback(async () => {
    try {
      const list = await commands.listContexts();
      if (!mounted.current) return list;
      setItems(list);
      setStatus('ready');
      setError(null);
      return list;
    } catch (caught) {
      if (mounted.current) {
        setError(errorCode(caught));
        setStatus((s) => (s === 'ready' ? s : 'error'));
      }
      return null;
    }
  }, []);

  useEffect(() => {
    mounted.current = true;
    void reload();
    return () => {
      mounted.current = false;
      clearTimeout(timer.current);
    };
  }, [reload]);

  const scheduleReload = useCallback(() => {
    clearTimeout(timer.current);
    timer.current = setTimeout(() => void reload(), REFRESH_DELAY_MS);
  }, [reload]);

  useSubscription(events.onMessage, scheduleReload);
  useSubscription(events.onUnread, scheduleReload);

  return { items, status, error, reload, scheduleReload };
}
