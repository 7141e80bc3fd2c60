/**
 * Unread total in the window title ("(3) DMP Messagerie"). The total follows the
 * contexts list when it changes and `dmp://unread` whenever the shell sends it,
 * whichever is newer.
 */
import { useEffect, useState } from 'react';
import { events, useSubscription, type ContextSummary } from '../../api';
import { useI18n } from '../../i18n';

export function windowTitle(appTitle: string, total: number): string {
  return total > 0 ? `(${total > 99 ? '99+' : total}) ${appTitle}` : appTitle;
}

export function useUnreadTotal(contexts: ContextSummary[] | null): number {
  const [total, setTotal] = useState(0);
  useEffect(() => {
    if (contexts) setTotal(contexts.reduce((sum, c) => sum + c.unreadCount, 0));
  }, [contexts]);
  useSubscription(events.onUnread, (event) => setTotal(Math.max(0, event.total)));
  return total;
}

export function useUnreadTitle(total: number): void {
  const { t } = useI18n();
  const appTitle = t('app.title');
  useEffect(() => {
    document.title = windowTitle(appTitle, total);
  }, [appTitle, total]);
}
