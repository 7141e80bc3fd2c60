/**
 * A conversation's status in the lists (docs/messaging.md): active, closed by its doctor,
 * or archived. Both lists filter on it — all by default, so nothing is hidden — and mark
 * closed and archived rows with a small badge.
 */
import type { ContextSummary, SessionStatus } from '../../api';
import { useI18n, type MessageKey } from '../../i18n';
import { FlagBadge } from '../../components/Badge';

export type StatusFilter = 'all' | SessionStatus;

/** Every filter, in the order offered, with its label (exhaustive over the statuses). */
export const STATUS_FILTER_LABEL: Record<StatusFilter, MessageKey> = {
  all: 'sessionStatus.all',
  active: 'sessionStatus.active',
  closed: 'sessionStatus.closed',
  archived: 'sessionStatus.archived',
};

export const STATUS_FILTERS = Object.keys(STATUS_FILTER_LABEL) as StatusFilter[];

export function isStatusFilter(value: string): value is StatusFilter {
  return Object.prototype.hasOwnProperty.call(STATUS_FILTER_LABEL, value);
}

/** A record without a conversation yet counts as active: its patient can write. */
export function conversationStatus(context: ContextSummary): SessionStatus {
  return context.session?.status ?? 'active';
}

export function matchesStatus(context: ContextSummary, filter: StatusFilter): boolean {
  return filter === 'all' || conversationStatus(context) === filter;
}

const BADGE_LABEL: Partial<Record<SessionStatus, MessageKey>> = {
  closed: 'sessionStatus.badge.closed',
  archived: 'sessionStatus.badge.archived',
};

/** "Clôturée" or "Archivée"; nothing for an active conversation. */
export function SessionStatusBadge({ status, className = '' }: { status: SessionStatus; className?: string }) {
  const { t } = useI18n();
  const label = BADGE_LABEL[status];
  if (!label) return null;
  return (
    <span className={`shrink-0 ${className}`} data-testid="status-badge" data-status={status}>
      <FlagBadge tone="neutral">{t(label)}</FlagBadge>
    </span>
  );
}
