/** Small pills: unread counters and message flags. */
import type { ReactNode } from 'react';

/** Red unread counter; caps at 99+. `label` is the spoken text ("3 messages non lus"). */
export function UnreadBadge({ count, label, className = '' }: { count: number; label: string; className?: string }) {
  if (count <= 0) return null;
  return (
    <span
      role="img"
      aria-label={label}
      className={`inline-flex min-w-[1.35rem] items-center justify-center rounded-full bg-red-600 px-1.5 py-0.5 text-xs font-bold leading-none text-white shadow-sm ring-2 ring-white ${className}`}
    >
      <span aria-hidden="true">{count > 99 ? '99+' : count}</span>
    </span>
  );
}

export function FlagBadge({ tone, children }: { tone: 'urgent' | 'response' | 'neutral'; children: ReactNode }) {
  const tones = {
    urgent: 'bg-red-100 text-red-800 ring-red-300',
    response: 'bg-amber-100 text-amber-900 ring-amber-300',
    neutral: 'bg-slate-100 text-slate-700 ring-slate-300',
  } as const;
  return (
    <span className={`inline-flex items-center gap-1 rounded-full px-2 py-0.5 text-[11px] font-semibold ring-1 ${tones[tone]}`}>
      {children}
    </span>
  );
}
