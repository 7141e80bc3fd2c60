/**
 * A small built-in emoji grid (no dependency). Arrow keys move through it, Home/End
 * jump, Enter or Space inserts, Escape closes and returns focus to the trigger.
 */
import { useEffect, useRef, useState, type KeyboardEvent } from 'react';
import { useI18n } from '../../i18n';

export const EMOJI = [
  '😀', '😊', '🙂', '😉', '😅', '😂', '🥰', '😌',
  '😟', '😢', '😷', '🤒', '🤕', '🤧', '😴', '🤔',
  '🙏', '👍', '👌', '👋', '💪', '❤️', '✅', '❓',
  '💊', '🩺', '🌡️', '🔬', '🩹', '💉', '📄', '📅',
] as const;

const COLUMNS = 8;

export function EmojiPicker({ onPick, onClose, id }: { onPick: (emoji: string) => void; onClose: () => void; id: string }) {
  const { t } = useI18n();
  const [active, setActive] = useState(0);
  const refs = useRef<(HTMLButtonElement | null)[]>([]);

  useEffect(() => {
    refs.current[active]?.focus();
  }, [active]);

  const onKeyDown = (event: KeyboardEvent) => {
    const moves: Record<string, number> = { ArrowRight: 1, ArrowLeft: -1, ArrowDown: COLUMNS, ArrowUp: -COLUMNS };
    if (event.key in moves) {
      event.preventDefault();
      const next = active + moves[event.key]!;
      if (next >= 0 && next < EMOJI.length) setActive(next);
    } else if (event.key === 'Home') {
      event.preventDefault();
      setActive(0);
    } else if (event.key === 'End') {
      event.preventDefault();
      setActive(EMOJI.length - 1);
    } else if (event.key === 'Escape') {
      event.preventDefault();
      event.stopPropagation();
      onClose();
    } else if (event.key === 'Tab') {
      onClose();
    }
  };

  return (
    <div
      id={id}
      role="dialog"
      aria-label={t('emoji.title')}
      onKeyDown={onKeyDown}
      className="absolute bottom-full left-0 z-30 mb-2 w-[17.5rem] rounded-xl bg-white p-2 shadow-xl ring-1 ring-slate-200 motion-safe:animate-fade-in"
    >
      <div role="grid" aria-label={t('emoji.title')} className="grid grid-cols-8 gap-0.5">
        {Array.from({ length: EMOJI.length / COLUMNS }, (_, row) => (
          <div role="row" key={row} className="contents">
            {EMOJI.slice(row * COLUMNS, row * COLUMNS + COLUMNS).map((emoji, col) => {
              const index = row * COLUMNS + col;
              return (
                <span role="gridcell" key={emoji} className="contents">
                  <button
                    ref={(el) => {
                      refs.current[index] = el;
                    }}
                    type="button"
                    tabIndex={index === active ? 0 : -1}
                    aria-label={t('emoji.insert', { emoji })}
                    onClick={() => onPick(emoji)}
                    onFocus={() => setActive(index)}
                    className="flex h-8 w-8 items-center justify-center rounded-md font-emoji text-xl hover:bg-slate-100 focus:bg-blue-100 focus:outline-none focus-visible:ring-2 focus-visible:ring-blue-500"
                  >
                    {emoji}
                  </button>
                </span>
              );
            })}
          </div>
        ))}
      </div>
    </div>
  );
}
