/**
 * Blocking warning on `dmp://peer-key-changed`: a peer's encryption key is not the one
 * pinned earlier. It cannot be dismissed by Escape or a click outside; the user either
 * checks the safety code or acknowledges.
 */
import { useCallback, useRef, useState } from 'react';
import { events, useSubscription, type PeerKeyChangedEvent } from '../../api';
import { useI18n } from '../../i18n';
import { Dialog } from '../../components/Dialog';
import { WarningIcon } from '../../components/icons';

export function usePeerKeyChanges() {
  const [queue, setQueue] = useState<PeerKeyChangedEvent[]>([]);
  useSubscription(events.onPeerKeyChanged, (change) =>
    setQueue((q) => (q.some((c) => c.userId === change.userId) ? q : [...q, change])),
  );
  const dismiss = useCallback(() => setQueue((q) => q.slice(1)), []);
  return { current: queue[0] ?? null, dismiss };
}

export function PeerKeyChangedDialog({
  change,
  onAcknowledge,
  onVerify,
}: {
  change: PeerKeyChangedEvent;
  onAcknowledge: () => void;
  onVerify: (userId: string) => void;
}) {
  const { t } = useI18n();
  const verifyRef = useRef<HTMLButtonElement>(null);
  return (
    <Dialog
      role="alertdialog"
      title={
        <span className="flex items-center gap-2">
          <WarningIcon className="h-5 w-5 shrink-0" />
          {t('peerKey.title', { name: change.name })}
        </span>
      }
      description={t('peerKey.body', { name: change.name })}
      initialFocusRef={verifyRef}
      titleClassName="text-lg font-semibold text-red-800"
    >
      <div className="flex flex-col-reverse gap-2 sm:flex-row sm:justify-end">
        <button
          type="button"
          onClick={onAcknowledge}
          className="rounded-lg border border-slate-300 px-4 py-2 text-sm font-medium text-slate-700 hover:bg-slate-50 focus-visible:outline focus-visible:outline-2 focus-visible:outline-offset-2 focus-visible:outline-blue-600"
        >
          {t('peerKey.acknowledge')}
        </button>
        <button
          ref={verifyRef}
          type="button"
          onClick={() => onVerify(change.userId)}
          className="rounded-lg bg-blue-600 px-4 py-2 text-sm font-semibold text-white hover:bg-blue-700 focus-visible:outline focus-visible:outline-2 focus-visible:outline-offset-2 focus-visible:outline-blue-600"
        >
          {t('peerKey.verify')}
        </button>
      </div>
    </Dialog>
  );
}
