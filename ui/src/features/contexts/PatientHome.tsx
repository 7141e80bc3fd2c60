/**
 * "Mon DMP": the patient's medical history (prescriptions and exam results), each with
 * its MessagingButton, plus a notifications tab. The records filter by type and by the
 * status of their conversation (all by default); closed and archived ones carry a badge.
 * While a record's doctor is away, the record says so before the patient writes; when
 * the doctor set office hours, the record says when they read messages.
 */
import { useId, useState, type KeyboardEvent, type ReactNode } from 'react';
import type { ContextRef, ContextSummary, ContextType, ErrorCode, User } from '../../api';
import { useI18n } from '../../i18n';
import { Spinner } from '../../components/Spinner';
import { errorKey } from '../../app/errorMessages';
import { MessagingButton } from './MessagingButton';
import { DoctorAbsenceNotice, doctorAbsenceFor } from './DoctorAbsence';
import { DoctorOfficeHoursLine, doctorOfficeHoursFor } from './DoctorOfficeHours';
import { supportedContexts } from './supportedContexts';
import { lastActivity } from './useContexts';
import { STATUS_FILTERS, STATUS_FILTER_LABEL, SessionStatusBadge, conversationStatus, matchesStatus, type StatusFilter } from './sessionStatus';

type Filter = 'all' | ContextType;

type PatientHomeProps = {
  user: User;
  contexts: ContextSummary[];
  status: 'loading' | 'ready' | 'error';
  error: ErrorCode | null;
  onOpen: (context: ContextRef) => void;
  onRetry: () => void;
  hasDraft: (context: ContextRef) => boolean;
  notifications: ReactNode;
  unseenNotifications: number;
};

export function PatientHome(props: PatientHomeProps) {
  const { t } = useI18n();
  const [tab, setTab] = useState<'history' | 'notifications'>('history');
  const baseId = useId();
  const tabs = [
    { id: 'history' as const, label: t('patient.tab.history') },
    { id: 'notifications' as const, label: t('patient.tab.notifications') },
  ];

  const onTabKey = (event: KeyboardEvent) => {
    if (event.key !== 'ArrowRight' && event.key !== 'ArrowLeft') return;
    event.preventDefault();
    const next = tab === 'history' ? 'notifications' : 'history';
    setTab(next);
    document.getElementById(`${baseId}-tab-${next}`)?.focus();
  };

  return (
    <div className="mx-auto w-full max-w-4xl px-4 py-6 sm:px-6">
      <div className="mb-5">
        <h1 className="text-2xl font-bold tracking-tight text-slate-900">{t('patient.title')}</h1>
        <p className="text-sm text-slate-600">{t('patient.greeting', { name: props.user.name })}</p>
      </div>

      <div role="tablist" aria-label={t('patient.title')} className="mb-4 flex gap-1 border-b border-slate-200" onKeyDown={onTabKey}>
        {tabs.map(({ id, label }) => (
          <button
            key={id}
            id={`${baseId}-tab-${id}`}
            type="button"
            role="tab"
            aria-selected={tab === id}
            aria-controls={`${baseId}-panel-${id}`}
            tabIndex={tab === id ? 0 : -1}
            onClick={() => setTab(id)}
            className={`-mb-px flex items-center gap-2 border-b-2 px-4 py-2 text-sm font-semibold focus-visible:outline focus-visible:outline-2 focus-visible:outline-blue-600 ${
              tab === id ? 'border-blue-600 text-blue-700' : 'border-transparent text-slate-600 hover:text-slate-900'
            }`}
          >
            {label}
            {id === 'notifications' && props.unseenNotifications > 0 && (
              <span role="img" className="rounded-full bg-red-600 px-1.5 text-xs text-white" aria-label={t('notifications.unseen', { count: props.unseenNotifications })}>
                <span aria-hidden="true">{props.unseenNotifications}</span>
              </span>
            )}
          </button>
        ))}
      </div>

      <div id={`${baseId}-panel-history`} role="tabpanel" aria-labelledby={`${baseId}-tab-history`} hidden={tab !== 'history'}>
        {tab === 'history' && <MedicalHistory {...props} />}
      </div>
      <div
        id={`${baseId}-panel-notifications`}
        role="tabpanel"
        aria-labelledby={`${baseId}-tab-notifications`}
        hidden={tab !== 'notifications'}
      >
        {tab === 'notifications' && props.notifications}
      </div>
    </div>
  );
}

function MedicalHistory({ user, contexts, status, error, onOpen, onRetry, hasDraft }: PatientHomeProps) {
  const { t, format } = useI18n();
  const absenceIdBase = useId();
  const [filter, setFilter] = useState<Filter>('all');
  const [statusFilter, setStatusFilter] = useState<StatusFilter>('all');

  if (status === 'loading') return <Spinner label={t('common.loading')} className="h-6 w-6 text-blue-600" />;
  if (status === 'error')
    return (
      <div role="alert" className="rounded-xl bg-red-50 p-4 text-sm text-red-800 ring-1 ring-red-200">
        <p>{t(errorKey(error ?? 'INTERNAL'))}</p>
        <button type="button" onClick={onRetry} className="mt-2 font-semibold underline">
          {t('common.retry')}
        </button>
      </div>
    );

  // Rust gives the records newest first; only filtered here.
  const visible = contexts.filter((c) => (filter === 'all' || c.type === filter) && matchesStatus(c, statusFilter));

  const filters: { id: Filter; label: string }[] = [
    { id: 'all', label: t('patient.filter.all') },
    { id: 'ordonnance', label: t('patient.filter.ordonnance') },
    { id: 'examen', label: t('patient.filter.examen') },
  ];

  const pill = (on: boolean) =>
    `rounded-full px-3 py-1 text-sm font-medium ring-1 focus-visible:outline focus-visible:outline-2 focus-visible:outline-blue-600 ${
      on ? 'bg-slate-900 text-white ring-slate-900' : 'bg-white text-slate-700 ring-slate-300 hover:bg-slate-50'
    }`;

  return (
    <section aria-label={t('patient.tab.history')}>
      <div className="mb-4 flex flex-wrap items-center gap-x-4 gap-y-2">
        <div className="flex flex-wrap gap-2" role="group" aria-label={t('patient.filter.label')}>
          {filters.map((f) => (
            <button key={f.id} type="button" aria-pressed={filter === f.id} onClick={() => setFilter(f.id)} className={pill(filter === f.id)}>
              {f.label}
            </button>
          ))}
        </div>
        <div className="flex flex-wrap gap-2" role="group" aria-label={t('sessionStatus.filter')}>
          {STATUS_FILTERS.map((f) => (
            <button key={f} type="button" aria-pressed={statusFilter === f} onClick={() => setStatusFilter(f)} className={pill(statusFilter === f)}>
              {t(STATUS_FILTER_LABEL[f])}
            </button>
          ))}
        </div>
      </div>

      {visible.length === 0 ? (
        <p className="rounded-xl bg-white p-8 text-center text-slate-500 ring-1 ring-slate-200">{t('patient.empty')}</p>
      ) : (
        <ul className="space-y-3">
          {visible.map((context) => {
            const meta = supportedContexts[context.type];
            const activity = lastActivity(context);
            const sessionStatus = conversationStatus(context);
            const absence = doctorAbsenceFor(context, user);
            const absenceId = `${absenceIdBase}-absence-${context.type}-${context.id}`;
            const hours = doctorOfficeHoursFor(context, user);
            const hoursId = `${absenceIdBase}-hours-${context.type}-${context.id}`;
            const describedBy = [absence ? absenceId : null, hours ? hoursId : null].filter(Boolean).join(' ') || undefined;
            return (
              <li key={`${context.type}:${context.id}`} data-session-status={sessionStatus}>
                <article
                  aria-labelledby={`rec-${context.id}`}
                  className="rounded-2xl bg-white p-5 shadow-sm ring-1 ring-slate-200 transition-shadow hover:shadow-md"
                >
                  <div className="flex flex-wrap items-center gap-2 text-xs font-medium uppercase tracking-wide text-slate-500">
                    <span
                      className={`inline-flex items-center gap-1 rounded-full px-2 py-0.5 normal-case tracking-normal ${
                        context.type === 'ordonnance' ? 'bg-emerald-50 text-emerald-800' : 'bg-violet-50 text-violet-800'
                      }`}
                    >
                      <meta.Icon className="h-3.5 w-3.5" />
                      {t(meta.kind)}
                    </span>
                    <time dateTime={context.date} className="normal-case tracking-normal">
                      {format.recordDate(context.date)}
                    </time>
                    <SessionStatusBadge status={sessionStatus} className="normal-case tracking-normal" />
                  </div>
                  <h2 id={`rec-${context.id}`} className="mt-2 text-lg font-semibold text-slate-900">
                    {context.title}
                  </h2>
                  <p className="text-sm text-slate-600">
                    {t(meta.author)} <span className="font-medium text-slate-800">{context.doctor.name}</span>
                  </p>
                  <p className="mt-2 text-sm text-slate-700">{context.summary}</p>
                  {absence && <DoctorAbsenceNotice absence={absence} id={absenceId} className="mt-3" />}
                  {hours && <DoctorOfficeHoursLine hours={hours} doctorName={context.doctor.name} id={hoursId} className="mt-3" />}
                  <div className="mt-4 flex flex-wrap items-center gap-3">
                    <MessagingButton
                      contextType={context.type}
                      unreadCount={context.unreadCount}
                      onClick={() => onOpen(context)}
                      describedBy={describedBy}
                    />
                    {hasDraft(context) && (
                      <span className="rounded-full bg-amber-100 px-2 py-0.5 text-xs font-medium text-amber-900">{t('draft.label')}</span>
                    )}
                    {activity && (
                      <span className="text-xs text-slate-500">
                        {t('patient.lastMessage', { when: format.date(activity) })}
                      </span>
                    )}
                  </div>
                </article>
              </li>
            );
          })}
        </ul>
      )}
    </section>
  );
}
