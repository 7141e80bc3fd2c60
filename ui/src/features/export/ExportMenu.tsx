/**
 * "Exporter" menu button: JSON or printable document. A menu in the ARIA sense: arrow
 * keys move between the items, Escape closes and gives focus back to the button.
 */
import { useEffect, useId, useRef, useState, type KeyboardEvent } from 'react';
import type { ContextRef, ErrorCode, ExportFormat } from '../../api';
import { useI18n } from '../../i18n';
import { ExportIcon } from '../../components/icons';
import { Spinner } from '../../components/Spinner';
import { useExport } from './useExport';

type ExportMenuProps = {
  context: ContextRef;
  onExported: (path: string) => void;
  onError: (code: ErrorCode) => void;
  buttonClassName: string;
};

export function ExportMenu({ context, onExported, onError, buttonClassName }: ExportMenuProps) {
  const { t } = useI18n();
  const [open, setOpen] = useState(false);
  const { run, busy } = useExport(context);
  const buttonRef = useRef<HTMLButtonElement>(null);
  const itemRefs = useRef<(HTMLButtonElement | null)[]>([]);
  const id = useId();

  const items: { format: ExportFormat; label: string; hint: string }[] = [
    { format: 'json', label: t('export.json'), hint: t('export.jsonHint') },
    { format: 'html', label: t('export.html'), hint: t('export.htmlHint') },
  ];

  useEffect(() => {
    if (open) itemRefs.current[0]?.focus();
  }, [open]);

  const close = (refocus = true) => {
    setOpen(false);
    if (refocus) buttonRef.current?.focus();
  };

  const choose = async (format: ExportFormat) => {
    close();
    const result = await run(format);
    if (result.ok) onExported(result.path);
    else onError(result.code);
  };

  const onMenuKey = (event: KeyboardEvent) => {
    const index = itemRefs.current.findIndex((el) => el === document.activeElement);
    if (event.key === 'ArrowDown' || event.key === 'ArrowUp') {
      event.preventDefault();
      const delta = event.key === 'ArrowDown' ? 1 : -1;
      itemRefs.current[(index + delta + items.length) % items.length]?.focus();
    } else if (event.key === 'Home' || event.key === 'End') {
      event.preventDefault();
      itemRefs.current[event.key === 'Home' ? 0 : items.length - 1]?.focus();
    } else if (event.key === 'Escape') {
      event.preventDefault();
      event.stopPropagation();
      close();
    } else if (event.key === 'Tab') {
      close(false);
    }
  };

  return (
    <div className="relative">
      <button
        ref={buttonRef}
        type="button"
        data-testid="export-button"
        aria-haspopup="menu"
        aria-expanded={open}
        aria-controls={open ? id : undefined}
        aria-label={t('export.button')}
        title={t('export.button')}
        onClick={() => setOpen((v) => !v)}
        className={buttonClassName}
        disabled={busy !== null}
      >
        {busy ? <Spinner label={t('export.busy')} /> : <ExportIcon className="h-5 w-5" />}
      </button>
      {open && (
        <div
          id={id}
          role="menu"
          aria-label={t('export.button')}
          onKeyDown={onMenuKey}
          className="absolute right-0 z-30 mt-1 w-64 overflow-hidden rounded-xl bg-white py-1 text-slate-800 shadow-xl ring-1 ring-slate-200 motion-safe:animate-fade-in"
        >
          {items.map((item, i) => (
            <button
              key={item.format}
              ref={(el) => {
                itemRefs.current[i] = el;
              }}
              type="button"
              role="menuitem"
              tabIndex={-1}
              onClick={() => void choose(item.format)}
              className="block w-full px-4 py-2 text-left hover:bg-slate-100 focus:bg-blue-50 focus:outline-none"
            >
              <span className="block text-sm font-medium">{item.label}</span>
              <span className="block text-xs text-slate-500">{item.hint}</span>
            </button>
          ))}
        </div>
      )}
    </div>
  );
}
