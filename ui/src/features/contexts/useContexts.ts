/**
 * The signed-in user's inbox: records with their conversation summaries, sorted by Rust
 * (doctor: urgent unread first, then unread, then latest message; patient: record date),
 * and the unread total. One source: `list_contexts` once, then every `dmp://inbox` event
 * replaces it — no reload per incoming message, no re-sorting here.
 */
import { useCallback, useEffect, useRef, useState } from 'react';
import { commands, errorCode, events, useSubscription, type ContextRef, type ContextSummary, type ErrorCode, type Inbox, type Participant, type User } from '../../api';

export function lastActivity(context: ContextSummary): string | undefined {
  return context.lastMessageAt ?? undefined;
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

const EMPTY_INBOX: Inbox = { contexts: [], unreadTotal: 0 };

export function useContexts() {
  const [inbox, setInbox] = useState<Inbox>(EMPTY_INBOX);
  const [status, setStatus] = useState<'loading' | 'ready' | 'error'>('loading');
  const [error, setError] = useState<ErrorCode | null>(null);
  const mounted = useRef(true);
  /** Set once an event delivered the inbox: a slower `list_contexts` answer is older. */
  const fromEvent = useRef(false);

  const reload = useCallback(async () => {
    fromEvent.current = false;
    try {
      const loaded = await commands.listContexts();
      if (!mounted.current || fromEvent.current) return;
      setInbox(loaded);
      setStatus('ready');
      setError(null);
    } catch (caught) {
      if (mounted.current) {
        setError(errorCode(caught));
        setStatus((s) => (s === 'ready' ? s : 'error'));
      }
    }
  }, []);

  useEffect(() => {
    mounted.current = true;
    void reload();
    return () => {
      mounted.current = false;
    };
  }, [reload]);

  useSubscription(events.onInbox, (next) => {
    fromEvent.current = true;
    setInbox(next);
    setStatus('ready');
    setError(null);
  });

  return { items: inbox.contexts, unreadTotal: inbox.unreadTotal, status, error, reload };
}
