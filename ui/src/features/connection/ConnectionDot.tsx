/** Green / red / pulsing amber dot for the live link, with text for screen readers. */
import { useI18n, type MessageKey } from '../../i18n';
import type { ConnectionState } from '../../api';
import { useConnection } from './useConnection';

const STYLES: Record<ConnectionState, { dot: string; label: MessageKey }> = {
  connected: { dot: 'bg-green-500', label: 'connection.connected' },
  disconnected: { dot: 'bg-red-500', label: 'connection.disconnected' },
  reconnecting: { dot: 'bg-amber-400 motion-safe:animate-pulse', label: 'connection.reconnecting' },
};

export function ConnectionDot({ showLabel = false, className = '' }: { showLabel?: boolean; className?: string }) {
  const { t } = useI18n();
  const { state } = useConnection();
  const style = STYLES[state];
  return (
    <span role="status" className={`inline-flex items-center gap-1.5 ${className}`} data-state={state}>
      <span aria-hidden="true" className={`inline-block h-2.5 w-2.5 rounded-full ring-2 ring-white ${style.dot}`} />
      <span className={showLabel ? 'text-xs' : 'sr-only'}>{t(style.label)}</span>
    </span>
  );
}

/** "En ligne" / "Hors ligne" for a peer; nothing while unknown. */
export function PresenceLabel({ userId }: { userId: string }) {
  const { t } = useI18n();
  const online = useConnection().presenceOf(userId);
  if (online === undefined) return null;
  return (
    <span className="inline-flex items-center gap-1 text-xs">
      <span aria-hidden="true" className={`inline-block h-2 w-2 rounded-full ${online ? 'bg-green-500' : 'bg-slate-400'}`} />
      {t(online ? 'presence.online' : 'presence.offline')}
    </span>
  );
}
