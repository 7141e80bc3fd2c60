/**
 * The doctor's inbox: one row per conversation (patient, record, last activity, unread,
 * the question that waits for an answer: how long, late or not, its category), in the
 * order Rust gives (urgent unread first, then what waits for an answer — urgent first,
 * then oldest — then unread, then latest message); the UI never re-sorts it. The text
 * filter ignores case and accents ("helene" finds "Hélène"); the others keep unread
 * conversations, those waiting for an answer, the waiting question's category, or the
 * conversation's status (all by default: closed and archived ones stay reachable, with a
 * badge).
 * On demand the filtered rows are grouped by the waiting question's category, one section
 * per category with its count (see `groupByCategory`), each keeping Rust's order; off by
 * default, the list is flat.
 * From 360 px up: names and titles truncate, the waiting line wraps, the time and the
 * badges never leave the row.
 */
import { useId, useMemo, useState } from 'react';
import type { ContextRef, ContextSummary, ErrorCode, QuestionCategory } from '../../api';
import { useI18n, type MessageKey } from '../../i18n';
import { Spinner } from '../../components/Spinner';
import { UnreadBadge, FlagBadge } from '../../components/Badge';
import { ClockIcon, InboxIcon, SearchIcon, WarningIcon } from '../../components/icons';
import { errorKey } from '../../app/errorMessages';
import { supportedContexts } from './supportedContexts';
import { lastActivity, sameContext } from './useContexts';
import { CategorySelect } from './CategorySelect';
import { CATEGORY_LABEL, QUESTION_CATEGORIES, isOverdue, useNow } from './questions';
import {
  STATUS_FILTERS,
  STATUS_FILTER_LABEL,
  SessionStatusBadge,
  conversationStatus,
  isStatusFilter,
  matchesStatus,
  type StatusFilter,
} from './sessionStatus';

type DoctorInboxProps = {
  contexts: ContextSummary[];
  status: 'loading' | 'ready' | 'error';
  error: ErrorCode | null;
  openContext: ContextRef | null;
  onOpen: (context: ContextRef) => void;
  onRetry: () => void;
  hasDraft: (context: ContextRef) => boolean;
};

function initials(name: string): string {
  return name
    .replace(/^(Dr|Pr)\.?\s+/i, '')
    .split(/\s+/)
    .filter(Boolean)
    .slice(0, 2)
    .map((part) => part[0]!.toUpperCase())
    .join('');
}

/** Lower case without accents, for matching what a doctor types against names and titles. */
export function foldForSearch(text: string): string {
  return text.normalize('NFD').replace(/\p{M}/gu, '').toLocaleLowerCase();
}

/** The categories the inbox's filter lists, in its order; the grouped inbox follows it too. */
const FILTER_CATEGORIES: readonly QuestionCategory[] = QUESTION_CATEGORIES;

/** A section of the grouped inbox: a question category, a waiting question without one, or nothing waiting. */
type InboxGroupKey = QuestionCategory | 'uncategorized' | 'not-awaiting';

/**
 * The sections' order: the filter's categories, then "other" (should the filter not list
 * it), then waiting questions without a category, then conversations where nothing waits.
 */
const INBOX_GROUP_ORDER: readonly InboxGroupKey[] = [
  ...FILTER_CATEGORIES,
  ...(FILTER_CATEGORIES.includes('other') ? [] : (['other'] as const)),
  'uncategorized',
  'not-awaiting',
];

function groupLabel(key: InboxGroupKey): MessageKey {
  if (key === 'uncategorized') return 'inbox.groupUncategorized';
  if (key === 'not-awaiting') return 'inbox.groupNotAwaiting';
  return CATEGORY_LABEL[key];
}

function groupKey(context: ContextSummary): InboxGroupKey {
  const awaiting = context.awaitingAnswer;
  if (!awaiting) return 'not-awaiting';
  const category = awaiting.category;
  if (category === null || category === undefined) return 'uncategorized';
  // A category the filter does not list (or that this build does not know) goes under "other", which always fits.
  return (FILTER_CATEGORIES as readonly string[]).includes(category) ? category : 'other';
}

/**
 * The rows by the waiting question's category, sections in `INBOX_GROUP_ORDER`, each
 * keeping the rows' order; empty sections are left out.
 */
function groupByCategory(rows: readonly ContextSummary[]): { key: InboxGroupKey; rows: ContextSummary[] }[] {
  const byKey = new Map<InboxGroupKey, ContextSummary[]>();
  for (const row of rows) {
    const key = groupKey(row);
    const group = byKey.get(key);
    if (group) group.push(row);
    else byKey.set(key, [row]);
  }
  return INBOX_GROUP_ORDER.flatMap((key) => {
    const group = byKey.get(key);
    return group ? [{ key, rows: group }] : [];
  });
}

const filterToggle = (on: boolean) =>
  `rounded-lg px-3 py-2 text-sm font-medium ring-1 focus-visible:outline focus-visible:outline-2 focus-visible:outline-blue-600 ${
    on ? 'bg-blue-600 text-white ring-blue-600' : 'bg-white text-slate-700 ring-slate-300 hover:bg-slate-50'
  }`;

export function DoctorInbox({ contexts, status, error, openContext, onOpen, onRetry, hasDraft }: DoctorInboxProps) {
  const { t, format } = useI18n();
  const [query, setQuery] = useState('');
  const [unreadOnly, setUnreadOnly] = useState(false);
  const [awaitingOnly, setAwaitingOnly] = useState(false);
  const [category, setCategory] = useState<QuestionCategory | null>(null);
  const [statusFilter, setStatusFilter] = useState<StatusFilter>('all');
  const [grouped, setGrouped] = useState(false);
  const searchId = useId();
  const categoryId = useId();
  const statusId = useId();
  const groupsId = useId();
  const now = useNow();

  const rows = useMemo(() => {
    const q = foldForSearch(query.trim());
    return contexts.filter(
      (c) =>
        (!unreadOnly || c.unreadCount > 0) &&
        (!awaitingOnly || c.awaitingAnswer !== null) &&
        (category === null || c.awaitingAnswer?.category === category) &&
        matchesStatus(c, statusFilter) &&
        (q === '' || foldForSearch(c.patient.name).includes(q) || foldForSearch(c.title).includes(q)),
    );
  }, [contexts, query, unreadOnly, awaitingOnly, category, statusFilter]);

  const groups = useMemo(() => (grouped ? groupByCategory(rows) : []), [grouped, rows]);

  const totalUnread = contexts.reduce((sum, c) => sum + c.unreadCount, 0);

  const renderRow = (c: ContextSummary) => {
    const meta = supportedContexts[c.type];
    const when = lastActivity(c);
    const activity = when ? format.activity(when) : null;
    const isOpen = openContext !== null && sameContext(c, openContext);
    const urgent = c.hasUrgentUnread;
    const awaiting = c.awaitingAnswer;
    const late = awaiting !== null && isOverdue(awaiting, now);
    const sessionStatus = conversationStatus(c);
    return (
      <li
        key={`${c.type}:${c.id}`}
        data-testid="inbox-row"
        data-context-type={c.type}
        data-context-id={c.id}
        data-urgent={urgent ? 'true' : 'false'}
        data-unread={c.unreadCount}
        data-awaiting={awaiting ? (late ? 'overdue' : 'true') : 'false'}
        data-session-status={sessionStatus}
      >
        <button
          type="button"
          onClick={() => onOpen(c)}
          aria-current={isOpen ? 'true' : undefined}
          className={`flex w-full min-w-0 items-center gap-2 px-2 py-3 text-left sm:gap-3 sm:px-4 transition-colors hover:bg-slate-50 focus-visible:bg-blue-50 focus-visible:outline-none ${
            isOpen ? 'bg-blue-50' : ''
          } ${urgent ? 'border-l-4 border-red-500' : 'border-l-4 border-transparent'}`}
        >
          <span
            aria-hidden="true"
            className="hidden h-10 w-10 shrink-0 items-center justify-center rounded-full bg-gradient-to-br from-blue-500 to-indigo-600 text-sm font-bold text-white min-[400px]:flex"
          >
            {initials(c.patient.name)}
          </span>
          <span className="min-w-0 flex-1">
            <span className="flex min-w-0 items-center gap-1.5">
              <span className={`min-w-0 truncate text-sm ${c.unreadCount > 0 ? 'font-bold text-slate-900' : 'font-medium text-slate-800'}`}>
                {c.patient.name}
              </span>
              {urgent && (
                <span className="shrink-0">
                  <FlagBadge tone="urgent">
                    <WarningIcon className="h-3 w-3" />
                    {t('message.urgent')}
                  </FlagBadge>
                </span>
              )}
              <SessionStatusBadge status={sessionStatus} />
              {hasDraft(c) && <span className="shrink-0 text-xs font-medium text-amber-700">{t('draft.label')}</span>}
            </span>
            <span className="mt-0.5 flex min-w-0 items-center gap-1 text-xs text-slate-600">
              <meta.Icon className="h-3.5 w-3.5 shrink-0" />
              <span className="sr-only">{t(meta.kind)} : </span>
              <span className="truncate">{c.title}</span>
            </span>
            {awaiting && (
              <span data-testid="awaiting-answer" className="mt-1 flex min-w-0 flex-wrap items-center gap-x-1.5 gap-y-0.5 text-xs">
                <span
                  title={t('inbox.dueHint', { date: `${format.date(awaiting.dueAt)} ${format.time(awaiting.dueAt)}` })}
                  className={`flex min-w-0 max-w-full items-center gap-1 font-medium ${late ? 'text-red-700' : 'text-amber-800'}`}
                >
                  <ClockIcon className="h-3.5 w-3.5 shrink-0" />
                  <span className="truncate">{t('inbox.awaiting', { duration: format.elapsed(awaiting.since, now) })}</span>
                </span>
                {late && (
                  <span className="shrink-0" data-testid="overdue">
                    <span className="inline-flex items-center rounded-full bg-red-600 px-2 py-0.5 text-[11px] font-semibold text-white">
                      {t('inbox.overdue')}
                    </span>
                  </span>
                )}
                {awaiting.category && (
                  <span
                    data-testid="awaiting-category"
                    className="inline-flex min-w-0 max-w-full rounded-full bg-slate-100 px-2 py-0.5 text-[11px] font-semibold text-slate-700 ring-1 ring-slate-300"
                  >
                    <span className="truncate">{t(CATEGORY_LABEL[awaiting.category])}</span>
                  </span>
                )}
              </span>
            )}
          </span>
          <span className="flex shrink-0 flex-col items-end gap-1 pl-1">
            {activity ? (
              <time dateTime={when} className={`whitespace-nowrap text-xs ${c.unreadCount > 0 ? 'font-semibold text-blue-700' : 'text-slate-500'}`}>
                {activity.kind === 'yesterday' ? t('date.yesterday') : activity.text}
              </time>
            ) : (
              <span className="whitespace-nowrap text-xs text-slate-400">{t('inbox.noMessages')}</span>
            )}
            <UnreadBadge count={c.unreadCount} label={t('unread.badge', { count: c.unreadCount })} />
          </span>
        </button>
      </li>
    );
  };

  return (
    <section
      aria-labelledby={`${searchId}-title`}
      className="flex min-h-0 min-w-0 flex-col rounded-2xl bg-white shadow-sm ring-1 ring-slate-200"
    >
      <div className="border-b border-slate-200 p-3 sm:p-4">
        <div className="flex flex-wrap items-center justify-between gap-x-2 gap-y-1">
          <h1 id={`${searchId}-title`} className="flex min-w-0 items-center gap-2 text-lg font-bold text-slate-900">
            <InboxIcon className="h-5 w-5 text-blue-600" />
            {t('inbox.title')}
          </h1>
          <span className="text-xs text-slate-500">{t('inbox.unreadSummary', { count: totalUnread })}</span>
        </div>
        <div className="mt-3 flex flex-wrap items-center gap-2">
          <label htmlFor={searchId} className="sr-only">
            {t('inbox.filter')}
          </label>
          <div className="relative w-full min-w-0 sm:w-auto sm:min-w-[12rem] sm:flex-1">
            <SearchIcon className="pointer-events-none absolute left-2.5 top-2.5 h-4 w-4 text-slate-400" />
            <input
              id={searchId}
              type="search"
              value={query}
              onChange={(e) => setQuery(e.target.value)}
              placeholder={t('inbox.filter')}
              className="w-full rounded-lg border border-slate-300 bg-white py-2 pl-8 pr-3 text-sm focus:border-blue-500 focus:outline-none focus:ring-2 focus:ring-blue-500/30"
            />
          </div>
          <button type="button" aria-pressed={unreadOnly} onClick={() => setUnreadOnly((v) => !v)} className={filterToggle(unreadOnly)}>
            {t('inbox.unreadOnly')}
          </button>
          <button type="button" aria-pressed={awaitingOnly} onClick={() => setAwaitingOnly((v) => !v)} className={filterToggle(awaitingOnly)}>
            {t('inbox.awaitingOnly')}
          </button>
          <label htmlFor={categoryId} className="sr-only">
            {t('inbox.categoryFilter')}
          </label>
          <CategorySelect
            id={categoryId}
            value={category}
            onChange={setCategory}
            categories={FILTER_CATEGORIES}
            emptyLabel="inbox.allCategories"
            className={`min-w-0 max-w-full rounded-lg border-0 bg-white py-2 pl-3 pr-2 text-sm font-medium ring-1 focus:outline-none focus-visible:outline focus-visible:outline-2 focus-visible:outline-blue-600 ${
              category ? 'text-blue-800 ring-blue-500' : 'text-slate-700 ring-slate-300'
            }`}
          />
          <button type="button" aria-pressed={grouped} onClick={() => setGrouped((v) => !v)} className={filterToggle(grouped)}>
            {t('inbox.groupByCategory')}
          </button>
          <label htmlFor={statusId} className="sr-only">
            {t('sessionStatus.filter')}
          </label>
          <select
            id={statusId}
            value={statusFilter}
            onChange={(event) => setStatusFilter(isStatusFilter(event.target.value) ? event.target.value : 'all')}
            data-testid="status-filter"
            className={`min-w-0 max-w-full rounded-lg border-0 bg-white py-2 pl-3 pr-2 text-sm font-medium ring-1 focus:outline-none focus-visible:outline focus-visible:outline-2 focus-visible:outline-blue-600 ${
              statusFilter !== 'all' ? 'text-blue-800 ring-blue-500' : 'text-slate-700 ring-slate-300'
            }`}
          >
            {STATUS_FILTERS.map((f) => (
              <option key={f} value={f}>
                {t(STATUS_FILTER_LABEL[f])}
              </option>
            ))}
          </select>
        </div>
      </div>

      {status === 'loading' && (
        <div className="p-6">
          <Spinner label={t('common.loading')} className="h-6 w-6 text-blue-600" />
        </div>
      )}
      {status === 'error' && (
        <div role="alert" className="m-4 rounded-xl bg-red-50 p-4 text-sm text-red-800">
          <p>{t(errorKey(error ?? 'INTERNAL'))}</p>
          <button type="button" onClick={onRetry} className="mt-2 font-semibold underline">
            {t('common.retry')}
          </button>
        </div>
      )}
      {status === 'ready' && rows.length === 0 && <p className="p-8 text-center text-sm text-slate-500">{t('inbox.empty')}</p>}
      {status === 'ready' && rows.length > 0 && grouped && (
        <div className="overflow-y-auto">
          {groups.map(({ key, rows: groupRows }) => {
            const headingId = `${groupsId}-${key}`;
            return (
              <section key={key} aria-labelledby={headingId} data-testid="inbox-group" data-category={key}>
                <h2
                  id={headingId}
                  className="sticky top-0 z-10 flex min-w-0 items-center gap-2 border-y border-slate-200 bg-slate-50 px-2 py-1.5 text-xs font-semibold text-slate-700 sm:px-4"
                >
                  <span data-testid="inbox-group-label" className="min-w-0 truncate">
                    {t(groupLabel(key))}
                  </span>{' '}
                  <span
                    aria-hidden="true"
                    data-testid="inbox-group-count"
                    className="shrink-0 rounded-full bg-slate-200 px-2 py-0.5 text-[11px] font-semibold text-slate-700"
                  >
                    {groupRows.length}
                  </span>{' '}
                  <span className="sr-only">{t('inbox.groupCount', { count: groupRows.length })}</span>
                </h2>
                <ul className="divide-y divide-slate-100">{groupRows.map(renderRow)}</ul>
              </section>
            );
          })}
        </div>
      )}
      {status === 'ready' && rows.length > 0 && !grouped && (
        <ul className="divide-y divide-slate-100 overflow-y-auto" aria-label={t('inbox.listLabel')}>
          {rows.map(renderRow)}
        </ul>
      )}
    </section>
  );
}
