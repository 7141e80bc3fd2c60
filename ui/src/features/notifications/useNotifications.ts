/**
 * Notifications: the unseen ones from `list_notifications`, then each live
 * `dmp://notification` on top (de-duplicated by id, newest first). What was read goes
 * away: when the inbox (from `dmp://inbox`) shows a conversation with nothing unread,
 * the notifications of that conversation are cleared.
 */
import { useCallback, useEffect, useRef, useState } from 'react';
import { commands, errorCode, events, useSubscription, type ContextSummary, type ErrorCode, type Notification } from '../../api';

function byNewest(a: Notification, b: Notification): number {
  return Date.parse(b.createdAt) - Date.parse(a.createdAt);
}

export function mergeNotifications(current: Notification[], incoming: Notification[]): Notification[] {
  const byId = new Map(current.map((n) => [n.id, n]));
  for (const n of incoming) byId.set(n.id, n);
  return [...byId.values()].sort(byNewest);
}

/** Drops the notifications of conversations the inbox shows as fully read. */
export function clearRead(items: Notification[], contexts: ContextSummary[]): Notification[] {
  const read = new Set(contexts.filter((c) => c.unreadCount === 0).map((c) => `${c.type}:${c.id}`));
  const kept = items.filter((n) => !read.has(`${n.context.type}:${n.context.id}`));
  return kept.length === items.length ? items : kept;
}

export function useNotifications(contexts: ContextSummary[] | null) {
  const [items, setItems] = useState<Notification[]>([]);
  const [status, setStatus] = useState<'loading' | 'ready' | 'error'>('loading');
  const [error, setError] = useState<ErrorCode | null>(null);
  const [latestInbox, setLatestInbox] = useState<ContextSummary[] | null>(null);
  const inbox = useRef(contexts);
  inbox.current = contexts;

  const reload = useCallback(async () => {
    try {
      const list = await commands.listNotifications();
      const known = inbox.current;
      setItems((current) => {
        const merged = mergeNotifications(current, list);
        return known ? clearRead(merged, known) : merged;
      });
      setStatus('ready');
      setError(null);
    } catch (caught) {
      setError(errorCode(caught));
      setStatus('error');
    }
  }, []);

  useEffect(() => {
    void reload();
  }, [reload]);

  // Only an inbox change clears: a notification that arrives just before the inbox
  // counting its message must not be dropped by the previous inbox.
  if (contexts !== latestInbox) {
    setLatestInbox(contexts);
    if (contexts) setItems((current) => clearRead(current, contexts));
  }

  useSubscription(events.onNotification, (n) => {
    setItems((current) => mergeNotifications(current, [n]));
    setStatus('ready');
  });

  const unseen = items.filter((n) => !n.seenAt).length;
  return { items, status, error, unseen, reload };
}
