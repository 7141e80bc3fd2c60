/**
 * Everything behind the login: the patient's "Mon DMP" or the doctor's inbox, the
 * conversation modal, settings, and the blocking peer-key warning.
 */
import { useCallback, useEffect, useState } from 'react';
import { commands, events, useSubscription, type ContextRef, type User } from '../api';
import { useI18n } from '../i18n';
import { useAuth } from '../features/auth/useAuth';
import { ConnectionProvider } from '../features/connection/useConnection';
import { DoctorInbox } from '../features/contexts/DoctorInbox';
import { PatientHome } from '../features/contexts/PatientHome';
import { findContext, peersOf, useContexts } from '../features/contexts/useContexts';
import { useDrafts } from '../features/messages/drafts';
import { SecureMessaging } from '../features/messages/SecureMessaging';
import { NotificationsPanel } from '../features/notifications/NotificationsPanel';
import { useNotifications } from '../features/notifications/useNotifications';
import { useUnreadTitle, useUnreadTotal } from '../features/notifications/useUnreadTitle';
import { PeerKeyChangedDialog, usePeerKeyChanges } from '../features/settings/PeerKeyChanged';
import { SettingsPanel } from '../features/settings/SettingsPanel';
import { useSettings } from '../features/settings/useSettings';
import { AppHeader } from './AppHeader';
import { LimitsProvider } from './limits';

export function Workspace({ user }: { user: User }) {
  return (
    <ConnectionProvider>
      <LimitsProvider>
        <WorkspaceContent user={user} />
      </LimitsProvider>
    </ConnectionProvider>
  );
}

function WorkspaceContent({ user }: { user: User }) {
  const { t } = useI18n();
  const { logout } = useAuth();
  const drafts = useDrafts();
  const { reload: reloadSettings } = useSettings();
  const contexts = useContexts();
  const notifications = useNotifications();
  const unreadTotal = useUnreadTotal(contexts.status === 'ready' ? contexts.items : null);
  useUnreadTitle(unreadTotal);
  const peerKey = usePeerKeyChanges();

  const [openRef, setOpenRef] = useState<ContextRef | null>(() => drafts.lastOpen(user.id));
  const [settingsFor, setSettingsFor] = useState<{ peerId?: string } | null>(null);

  // Stored settings become readable once signed in.
  useEffect(() => {
    void reloadSettings();
  }, [reloadSettings]);

  useEffect(() => {
    drafts.rememberOpen(user.id, openRef);
  }, [drafts, user.id, openRef]);

  const open = useCallback(
    (ref: ContextRef) => {
      setOpenRef({ type: ref.type, id: ref.id });
      if (!findContext(contexts.items, ref)) void contexts.reload();
    },
    [contexts],
  );

  useSubscription(events.onOpenConversation, (event) => open({ type: event.contextType, id: event.contextId }));

  const close = useCallback(() => {
    setOpenRef(null);
    void contexts.reload();
  }, [contexts]);

  const openContext = findContext(contexts.items, openRef);
  const hasDraft = (ref: ContextRef) => drafts.has(user.id, ref);

  const notificationsPanel = (
    <NotificationsPanel items={notifications.items} status={notifications.status} error={notifications.error} onOpen={open} />
  );

  return (
    <div className="flex min-h-screen flex-col bg-slate-100">
      <a href="#main" className="sr-only focus:not-sr-only focus:absolute focus:left-2 focus:top-2 focus:z-50 focus:rounded focus:bg-white focus:px-3 focus:py-2">
        {t('skipToContent')}
      </a>
      <AppHeader user={user} unreadTotal={unreadTotal} onSettings={() => setSettingsFor({})} onLogout={() => void logout()} />

      <main id="main" className="flex-1">
        {user.type === 'patient' && (
          <PatientHome
            user={user}
            contexts={contexts.items}
            status={contexts.status}
            error={contexts.error}
            onOpen={open}
            onRetry={() => void contexts.reload()}
            hasDraft={hasDraft}
            notifications={notificationsPanel}
            unseenNotifications={notifications.unseen}
          />
        )}
        {user.type === 'medecin' && (
          <div className="mx-auto grid w-full max-w-7xl gap-4 p-3 sm:p-6 lg:grid-cols-[minmax(0,2fr)_minmax(0,1fr)]">
            <DoctorInbox
              contexts={contexts.items}
              status={contexts.status}
              error={contexts.error}
              openContext={openRef}
              onOpen={open}
              onRetry={() => void contexts.reload()}
              hasDraft={hasDraft}
            />
            <div>{notificationsPanel}</div>
          </div>
        )}
        {user.type === 'admin' && (
          <div className="mx-auto max-w-xl p-6">
            <div className="rounded-2xl bg-white p-6 text-slate-700 shadow-sm ring-1 ring-slate-200">
              <h1 className="text-lg font-bold text-slate-900">{t('admin.title')}</h1>
              <p className="mt-2 text-sm">{t('admin.body')}</p>
            </div>
          </div>
        )}
      </main>

      {openContext && <SecureMessaging key={`${openContext.type}:${openContext.id}`} context={openContext} me={user} onClose={close} />}

      {settingsFor && (
        <SettingsPanel peers={peersOf(contexts.items, user)} initialPeerId={settingsFor.peerId} onClose={() => setSettingsFor(null)} />
      )}

      {peerKey.current && (
        <PeerKeyChangedDialog
          change={peerKey.current}
          onAcknowledge={() => {
            const userId = peerKey.current?.userId;
            // Trust the new key on this device (nothing is sent to the peer until then).
            void (userId ? commands.acceptPeerKey(userId) : Promise.resolve(false))
              .catch(() => undefined)
              .finally(peerKey.dismiss);
          }}
          onVerify={(userId) => {
            peerKey.dismiss();
            setSettingsFor({ peerId: userId });
          }}
        />
      )}
    </div>
  );
}
