/**
 * The contextual entry point to a conversation, shown next to a prescription or an exam
 * result: blue, with the comments icon, a type-specific label, an unread badge and a
 * tooltip (aria-describedby) saying who can read the exchange. What else the patient
 * should know before writing (the doctor is away, their office hours) can describe it
 * too (`describedBy`).
 */
import { useId } from 'react';
import type { ContextType } from '../../api';
import { useI18n } from '../../i18n';
import { CommentsIcon, LockIcon } from '../../components/icons';
import { UnreadBadge } from '../../components/Badge';
import { supportedContexts } from './supportedContexts';

type MessagingButtonProps = {
  contextType: ContextType;
  unreadCount?: number;
  onClick: () => void;
  className?: string;
  /** The ids of other elements that describe the button (space-separated), read after the tooltip. */
  describedBy?: string;
};

export function MessagingButton({ contextType, unreadCount = 0, onClick, className = '', describedBy }: MessagingButtonProps) {
  const { t } = useI18n();
  const tooltipId = useId();
  const context = supportedContexts[contextType];
  return (
    <span className={`group relative inline-flex ${className}`}>
      <button
        type="button"
        onClick={onClick}
        aria-describedby={describedBy ? `${tooltipId} ${describedBy}` : tooltipId}
        data-context-type={contextType}
        className="relative inline-flex items-center gap-2 rounded-lg bg-blue-600 px-4 py-2 text-sm font-semibold text-white shadow-sm transition-colors hover:bg-blue-700 focus-visible:outline focus-visible:outline-2 focus-visible:outline-offset-2 focus-visible:outline-blue-600"
      >
        <CommentsIcon className="h-5 w-5" />
        <context.Icon className="h-4 w-4" />
        <span>{t(context.title)}</span>
        {unreadCount > 0 && (
          <UnreadBadge
            count={unreadCount}
            label={t('unread.badge', { count: unreadCount })}
            className="absolute -right-2 -top-2"
          />
        )}
      </button>
      <span
        id={tooltipId}
        role="tooltip"
        className="pointer-events-none absolute bottom-full left-0 z-20 mb-2 w-72 rounded-lg bg-slate-900 px-3 py-2 text-xs leading-snug text-white opacity-0 shadow-lg transition-opacity group-focus-within:opacity-100 group-hover:opacity-100"
      >
        <LockIcon className="mr-1 inline h-3 w-3 align-[-1px]" />
        {t('messagingButton.tooltip')}
      </span>
    </span>
  );
}
