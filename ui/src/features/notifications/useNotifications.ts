/**
 * Notifications: the unseen ones from `list_notifications`, then each live
 * `dmp://notification` on top (de-duplicated by id, newest first).
 */
import { useCallback, useEffect, useState } from 'react';
import { commands, errorCode, events, useSubscription, type ErrorCode, type Notification } from '../../api';

function byNewest(a: Notification, b: Notification): number {
  return Date.parse(b.createdAt) - Date.parse(a.createdAt);
}

export function mergeNotifications(current: Notification[], incoming: Notification[]): Notification[] {
  const byId = new Map(current.map((n) => [n.id, n]));
  for (const n of incoming) byId.set(n.id, n);
  return [...byId.values()].sort(byNewest);
}

export function useNotifications() {
  const [items, setItems] = useState<Notification[]>([]);
  const [status, setStatus] = useState<'loading' | 'ready' | 'error'>('loading');
  const [error, setError] = useState<ErrorCode | null>(null);

  const reload = useCallback(async () => {
    try {
      const list = await commands.listNotifications();
      setItems((current) => mergeNotifications(current, list));
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

  useSubscription(events.onNotification, (n) => {
    setItems((current) => mergeNotifications(current, [n]));
    setStatus('ready');
  });

  const unseen = items.filter((n) => !n.seenAt).length;
  return { items, status, error, unseen, reload };
}
