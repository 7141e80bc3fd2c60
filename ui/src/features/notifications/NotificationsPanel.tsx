/**
 * The list of message notifications; choosing one opens its conversation. Titles are
 * written here from the sender and urgency, in the UI's language (the shell's own
 * `title` and `body` are the server's French text for the native notification).
 */
import type { ContextRef, ContextType, ErrorCode, Notification } from '../../api';
import { useI18n } from '../../i18n';
import { BellIcon } from '../../components/icons';
import { FlagBadge } from '../../components/Badge';
import { Spinner } from '../../components/Spinner';
import { errorKey } from '../../app/errorMessages';
import { supportedContexts } from '../contexts/supportedContexts';

type NotificationsPanelProps = {
  items: Notification[];
  status: 'loading' | 'ready' | 'error';
  error: ErrorCode | null;
  onOpen: (context: ContextRef) => void;
  headingLevel?: 'h1' | 'h2';
};

export function NotificationsPanel({ items, status, error, onOpen, headingLevel: Heading = 'h2' }: NotificationsPanelProps) {
  const { t, format } = useI18n();
  return (
    <section aria-label={t('notifications.title')} className="rounded-2xl bg-white shadow-sm ring-1 ring-slate-200">
      <Heading className="flex items-center gap-2 border-b border-slate-200 p-4 text-base font-bold text-slate-900">
        <BellIcon className="h-5 w-5 text-blue-600" />
        {t('notifications.title')}
      </Heading>
      {status === 'loading' && (
        <div className="p-4">
          <Spinner label={t('common.loading')} />
        </div>
      )}
      {status === 'error' && (
        <p role="alert" className="p-4 text-sm text-red-700">
          {t(errorKey(error ?? 'INTERNAL'))}
        </p>
      )}
      {status === 'ready' && items.length === 0 && <p className="p-6 text-center text-sm text-slate-500">{t('notifications.empty')}</p>}
      {items.length > 0 && (
        <ul className="max-h-[60vh] divide-y divide-slate-100 overflow-y-auto" aria-live="polite" aria-relevant="additions">
          {items.map((n) => {
            const when = format.activity(n.createdAt);
            return (
              <li key={n.id} data-testid="notification-item" data-context-type={n.context.type} data-context-id={n.context.id}>
                <button
                  type="button"
                  onClick={() => onOpen(n.context)}
                  className={`flex w-full gap-3 px-4 py-3 text-left hover:bg-slate-50 focus-visible:bg-blue-50 focus-visible:outline-none ${
                    n.isUrgent ? 'border-l-4 border-red-500' : 'border-l-4 border-transparent'
                  }`}
                >
                  <Icon type={n.context.type} />
                  <span className="min-w-0 flex-1">
                    <span className="flex items-center gap-2">
                      {!n.seenAt && <span aria-hidden="true" className="h-2 w-2 shrink-0 rounded-full bg-blue-600" />}
                      <span className={`min-w-0 truncate text-sm ${n.seenAt ? 'text-slate-700' : 'font-semibold text-slate-900'}`}>
                        {t('notifications.newFrom', { name: n.sender.name })}
                      </span>
                      {n.isUrgent && <FlagBadge tone="urgent">{t('message.urgent')}</FlagBadge>}
                    </span>
                    <span className="mt-0.5 block truncate text-sm text-slate-600">{t(n.isUrgent ? 'notifications.bodyUrgent' : 'notifications.body')}</span>
                    <span className="mt-0.5 block truncate text-xs text-slate-500">
                      {t(supportedContexts[n.context.type].kind)} · <time dateTime={n.createdAt}>{when.kind === 'yesterday' ? t('date.yesterday') : when.text}</time>
                    </span>
                  </span>
                </button>
              </li>
            );
          })}
        </ul>
      )}
    </section>
  );
}

function Icon({ type }: { type: ContextType }) {
  const { Icon: ContextIcon } = supportedContexts[type];
  return <ContextIcon className="mt-0.5 h-5 w-5 shrink-0 text-slate-500" />;
}
