/**
 * The composer's reply-template picker (doctors only): a listbox above the message
 * input, opened by typing `/` in an empty draft (the rest of the line filters the
 * titles, accents and case ignored) or by the "Modèles" button. ArrowDown / ArrowUp
 * move the active option (aria-activedescendant: focus stays in the textarea, or on the
 * listbox when the button opened it), Enter or Tab picks, Escape closes. The templates
 * are read when the picker first opens; what a pick inserts is rendered by Rust.
 */
import { useEffect, useId, useMemo, useRef, useState, type FocusEvent, type KeyboardEvent } from 'react';
import type { ReplyTemplate } from '../../api';
import { useI18n } from '../../i18n';
import { Spinner } from '../../components/Spinner';
import { errorKey } from '../../app/errorMessages';
import { filterTemplates, previewOf } from './templates';
import { useTemplates } from './useTemplates';

/** How the picker was opened: `/` in the draft (the draft is the filter) or the button (no filter). */
export type PickerMode = 'slash' | 'button';

type PickerState = { mode: PickerMode; active: number; query: string };

type UseTemplatePickerArgs = {
  /** A doctor who can write now; otherwise the picker never opens. */
  enabled: boolean;
  /** The draft: after a leading `/`, the filter. */
  text: string;
  onPick: (template: ReplyTemplate, mode: PickerMode) => void;
};

export function useTemplatePicker({ enabled, text, onPick }: UseTemplatePickerArgs) {
  const store = useTemplates();
  const [state, setState] = useState<PickerState | null>(null);
  const listboxId = useId();
  const mode = enabled ? (state?.mode ?? null) : null;
  const query = mode === 'slash' ? text.slice(1) : '';
  const templates = store.templates;
  const options = useMemo(() => (mode ? filterTemplates(templates ?? [], query) : []), [mode, templates, query]);
  // A new filter starts again on its first match.
  const wanted = state && state.query === query ? state.active : 0;
  const active = options.length === 0 ? -1 : Math.min(Math.max(wanted, 0), options.length - 1);
  const { load } = store;

  const open = (next: PickerMode) => {
    if (!enabled) return;
    setState({ mode: next, active: 0, query: '' });
    void load();
  };
  const close = () => setState(null);
  const setActive = (index: number) => setState((s) => s && { ...s, active: index, query });
  const optionId = (index: number) => `${listboxId}-option-${index}`;

  const pick = (template: ReplyTemplate) => {
    if (!mode) return;
    close();
    onPick(template, mode);
  };

  /** The picker's keys, from the textarea or the listbox; true when the key was the picker's. */
  const onKeyDown = (event: KeyboardEvent<HTMLElement>): boolean => {
    if (!mode) return false;
    const count = options.length;
    const chosen = active >= 0 ? options[active] : undefined;
    switch (event.key) {
      case 'ArrowDown':
      case 'ArrowUp': {
        event.preventDefault();
        if (count > 0) setActive((active + (event.key === 'ArrowDown' ? 1 : count - 1)) % count);
        return true;
      }
      case 'Home':
      case 'End': {
        // In the textarea these move the caret; only the listbox takes them.
        if (mode !== 'button') return false;
        event.preventDefault();
        if (count > 0) setActive(event.key === 'Home' ? 0 : count - 1);
        return true;
      }
      case 'Enter': {
        if (event.shiftKey || event.nativeEvent.isComposing) return false;
        // Never sends: Enter belongs to the picker while it is open.
        event.preventDefault();
        event.stopPropagation();
        if (chosen) pick(chosen);
        else close();
        return true;
      }
      case 'Tab': {
        if (!chosen || event.shiftKey) {
          close();
          return false;
        }
        event.preventDefault();
        event.stopPropagation();
        pick(chosen);
        return true;
      }
      case 'Escape': {
        // Only the picker closes, not the conversation around it.
        event.preventDefault();
        event.stopPropagation();
        close();
        return true;
      }
      default:
        return false;
    }
  };

  return {
    mode,
    query,
    options,
    active,
    status: store.status,
    templates,
    code: store.code,
    listboxId,
    optionId,
    open,
    close,
    setActive,
    pick,
    onKeyDown,
    /** For the textarea: the listbox it drives and its active option, while `/` opened it. */
    inputProps:
      mode === 'slash'
        ? {
            'aria-controls': listboxId,
            'aria-activedescendant': active >= 0 ? optionId(active) : undefined,
          }
        : {},
  };
}

export type TemplatePickerController = ReturnType<typeof useTemplatePicker>;

type TemplatePickerProps = {
  picker: TemplatePickerController;
  /** Closed by Escape or by leaving it, when the button opened it: focus goes back there. */
  onDismiss: () => void;
};

/** The popup itself; rendered only while the picker is open. */
export function TemplatePicker({ picker, onDismiss }: TemplatePickerProps) {
  const { t } = useI18n();
  const popup = useRef<HTMLDivElement>(null);
  const listbox = useRef<HTMLUListElement>(null);
  const { mode, options, active, templates, status, code } = picker;
  const fromButton = mode === 'button';
  const hasOptions = options.length > 0;

  // Opened by the button: the listbox takes focus (the popup until the list is read).
  useEffect(() => {
    if (!fromButton) return;
    const target = listbox.current ?? popup.current;
    if (target && !target.contains(document.activeElement)) target.focus();
  }, [fromButton, hasOptions]);

  const activeId = active >= 0 ? picker.optionId(active) : null;
  useEffect(() => {
    if (!activeId) return;
    // jsdom has no scrollIntoView.
    document.getElementById(activeId)?.scrollIntoView?.({ block: 'nearest' });
  }, [activeId]);

  if (!mode) return null;

  const onKeyDown = (event: KeyboardEvent<HTMLElement>) => {
    if (!fromButton) return;
    const key = event.key;
    if (picker.onKeyDown(event) && key === 'Escape') onDismiss();
  };
  const onBlur = (event: FocusEvent<HTMLElement>) => {
    if (!fromButton) return;
    const next = event.relatedTarget as Node | null;
    if (next && popup.current?.contains(next)) return;
    picker.close();
  };

  let body;
  if (templates === null && status === 'error' && code) {
    body = (
      <p role="alert" className="px-3 py-2 text-sm text-red-700">
        {t('templates.loadFailed')} {t(errorKey(code))}
      </p>
    );
  } else if (templates === null) {
    body = (
      <div className="px-3 py-2 text-blue-600">
        <Spinner label={t('common.loading')} className="h-4 w-4" />
      </div>
    );
  } else if (templates.length === 0) {
    body = (
      <p role="status" className="px-3 py-2 text-sm text-slate-600">
        {t('templates.pickerEmpty', { settings: t('settings.title'), section: t('templates.title') })}
      </p>
    );
  } else if (!hasOptions) {
    body = (
      <p role="status" className="px-3 py-2 text-sm text-slate-600">
        {t('templates.noMatch', { query: picker.query.trim() })}
      </p>
    );
  } else {
    body = (
      <ul
        ref={listbox}
        id={picker.listboxId}
        role="listbox"
        aria-label={t('templates.title')}
        aria-activedescendant={fromButton && activeId ? activeId : undefined}
        tabIndex={fromButton ? 0 : -1}
        className="max-h-60 overflow-y-auto py-1 focus:outline-none"
      >
        {options.map((template, index) => (
          <li
            key={template.id}
            id={picker.optionId(index)}
            role="option"
            aria-selected={index === active}
            onClick={() => picker.pick(template)}
            onMouseMove={() => index !== active && picker.setActive(index)}
            className={`cursor-pointer px-3 py-1.5 ${index === active ? 'bg-blue-50 ring-1 ring-inset ring-blue-300' : ''}`}
          >
            <span className="block truncate text-sm font-semibold text-slate-900">{template.title}</span>
            <span className="block truncate text-xs text-slate-500">{previewOf(template.text)}</span>
          </li>
        ))}
      </ul>
    );
  }

  return (
    <div
      ref={popup}
      data-testid="template-picker"
      tabIndex={fromButton ? -1 : undefined}
      onKeyDown={onKeyDown}
      onBlur={onBlur}
      // A click inside never moves focus: it stays in the textarea or on the listbox.
      onMouseDown={(event) => event.preventDefault()}
      className="absolute bottom-full left-0 right-0 z-30 mb-2 overflow-hidden rounded-xl bg-white shadow-xl ring-1 ring-slate-200 focus:outline-none motion-safe:animate-fade-in"
    >
      <p className="border-b border-slate-100 px-3 py-1.5 text-xs font-semibold text-slate-700">{t('templates.title')}</p>
      {body}
      {hasOptions && (
        <p aria-hidden="true" className="hidden border-t border-slate-100 px-3 py-1 text-[11px] text-slate-400 sm:block">
          {t('templates.pickerHint')}
        </p>
      )}
    </div>
  );
}
