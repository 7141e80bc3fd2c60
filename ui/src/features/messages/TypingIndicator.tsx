/** "X est en train d'écrire…" with three pulsing dots; announced politely. */
import type { Participant } from '../../api';
import { useI18n } from '../../i18n';

export function TypingIndicator({ typists }: { typists: Participant[] }) {
  const { t } = useI18n();
  const names = typists.map((p) => p.name).join(', ');
  return (
    <div aria-live="polite" className="min-h-[1.75rem] px-4">
      {typists.length > 0 && (
        <p className="flex items-center gap-2 py-1 text-xs text-slate-500" data-testid="typing-indicator">
          <span aria-hidden="true" className="inline-flex gap-0.5 rounded-full bg-gray-200 px-2 py-1.5">
            <span className="h-1.5 w-1.5 rounded-full bg-slate-500 motion-safe:animate-typing-pulse" />
            <span className="h-1.5 w-1.5 rounded-full bg-slate-500 motion-safe:animate-typing-pulse motion-safe:[animation-delay:150ms]" />
            <span className="h-1.5 w-1.5 rounded-full bg-slate-500 motion-safe:animate-typing-pulse motion-safe:[animation-delay:300ms]" />
          </span>
          <span>{t('typing.one', { name: names })}</span>
        </p>
      )}
    </div>
  );
}
