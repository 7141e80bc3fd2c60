/**
 * Everything behind the login: the patient's "Mon DMP" or the doctor's inbox, the
 * conversation modal, settings, the read-only banner and the blocking peer-key warning.
 * The inbox, unread counts and total come from one place (`useContexts`: `list_contexts`
 * then `dmp://inbox`); the window title is set by Rust from the same inbox.
 */
import { useCallback, useEffect, useState } from 'react';
import { commands, events, useSubscription, type ContextRef, type User } from '../api';
import { useI18n } from '../i18n';
import { useAuth } from '../features/auth/useAuth';
import { ConnectionProvider, useConnection } from '../features/connection/useConnection';
import { DoctorInbox } from '../features/contexts/DoctorInbox';
import { PatientHome } from '../features/contexts/PatientHome';
import { findContext, peersOf, useContexts } from '../features/contexts/useContexts';
import { useDrafts } from '../features/messages/drafts';
import { SecureMessaging } from '../features/messages/SecureMessaging';
import { NotificationsPanel } from '../features/notifications/NotificationsPanel';
import { useNotifications } from '../features/notifications/useNotifications';
import { PeerKeyChangedDialog, usePeerKeyChanges } from '../features/settings/PeerKeyChanged';
import { SettingsPanel } from '../features/settings/SettingsPanel';
import { useSettings } from '../features/settings/useSettings';
import { TemplatesProvider } from '../features/templates/useTemplates';
import { AppHeader } from './AppHeader';
import { LimitsProvider } from './limits';
import { CloudOffIcon } from '../components/icons';

/** Whether the doctor's notifications column starts open (lg and up; open when unknown). */
function wideScreen(): boolean {
  return typeof window.matchMedia !== 'function' || window.matchMedia('(min-width: 1024px)').matches;
}

export function Workspace({ user, readOnly = false }: { user: User; readOnly?: boolean }) {
  return (
    <ConnectionProvider initialReadOnly={readOnly}>
      <LimitsProvider>
        {/* The doctor's reply templates, read once per signed-in user (the workspace is keyed by user). */}
        <TemplatesProvider>
          <WorkspaceContent user={user} />
        </TemplatesProvider>
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
  const notifications = useNotifications(contexts.status === 'ready' ? contexts.items : null);
  const { readOnly } = useConnection();
  const peerKey = usePeerKeyChanges();
  // The doctor's notifications: a side column on wide screens, behind the bell on narrow ones.
  const [notificationsOpen, setNotificationsOpen] = useState(wideScreen);

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

  const close = useCallback(() => setOpenRef(null), []);

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
      <AppHeader
        user={user}
        unreadTotal={contexts.unreadTotal}
        notifications={
          user.type === 'medecin'
            ? { count: notifications.unseen, open: notificationsOpen, onToggle: () => setNotificationsOpen((v) => !v) }
            : undefined
        }
        onSettings={() => setSettingsFor({})}
        onLogout={() => void logout()}
      />
      {readOnly && (
        <div
          role="status"
          data-testid="offline-banner"
          className="flex items-center justify-center gap-2 bg-amber-100 px-3 py-2 text-center text-sm font-medium text-amber-900 ring-1 ring-amber-300"
        >
          <CloudOffIcon className="h-4 w-4 shrink-0" />
          <span>{t('offline.banner')}</span>
        </div>
      )}

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
          <div
            className={`mx-auto grid w-full min-w-0 max-w-7xl gap-4 p-2 sm:p-6 ${
              notificationsOpen ? 'lg:grid-cols-[minmax(0,2fr)_minmax(0,1fr)]' : ''
            }`}
          >
            {notificationsOpen && <div className="min-w-0 lg:order-last">{notificationsPanel}</div>}
            <DoctorInbox
              contexts={contexts.items}
              status={contexts.status}
              error={contexts.error}
              openContext={openRef}
              onOpen={open}
              onRetry={() => void contexts.reload()}
              hasDraft={hasDraft}
            />
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
        <SettingsPanel user={user} peers={peersOf(contexts.items, user)} initialPeerId={settingsFor.peerId} onClose={() => setSettingsFor(null)} />
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
