/**
 * The doctor's absence, in the settings (docs/messaging.md, "Absence"): the absence set
 * (`get_absence`), to end or change, or a form to set one — start (now by default), end,
 * and a note to patients that is shown to them in clear, which the form says plainly.
 * The form checks what the server checks; a refusal is explained by its error code.
 */
import { useCallback, useEffect, useId, useState, type FormEvent } from 'react';
import { commands, errorCode, type Absence, type ErrorCode } from '../../api';
import { useI18n, type MessageKey } from '../../i18n';
import { Spinner } from '../../components/Spinner';
import { errorKey } from '../../app/errorMessages';
import { useConnection } from '../connection/useConnection';
import { characterCount } from '../messages/conversationState';
import {
  ABSENCE_MAX_DAYS,
  ABSENCE_NOTE_MAX,
  draftOf,
  emptyDraft,
  hasBegun,
  isCurrent,
  validateAbsence,
  type AbsenceDraft,
  type AbsenceErrors,
} from './absence';

type Loaded = { status: 'loading' } | { status: 'error'; code: ErrorCode } | { status: 'ready'; absence: Absence | null };

const fieldClass =
  'mt-1 block w-full rounded-lg border border-slate-300 bg-white px-3 py-2 text-sm focus:border-blue-500 focus:outline-none focus:ring-2 focus:ring-blue-500/30 aria-[invalid=true]:border-red-500';
const primaryButton =
  'rounded-lg bg-blue-600 px-4 py-2 text-sm font-semibold text-white hover:bg-blue-700 focus-visible:outline focus-visible:outline-2 focus-visible:outline-offset-2 focus-visible:outline-blue-600 disabled:opacity-50';
const secondaryButton =
  'rounded-lg border border-slate-300 bg-white px-3 py-2 text-sm font-medium text-slate-700 hover:bg-slate-50 focus-visible:outline focus-visible:outline-2 focus-visible:outline-offset-2 focus-visible:outline-blue-600 disabled:opacity-50';

/** The sentence for a refused or failed command: unreachable server said plainly, the rest by code. */
function failureKey(code: ErrorCode): MessageKey {
  return code === 'NETWORK_UNAVAILABLE' ? 'absence.error.network' : errorKey(code);
}

export function AbsenceSection() {
  const { t } = useI18n();
  const { readOnly } = useConnection();
  const [loaded, setLoaded] = useState<Loaded>({ status: 'loading' });
  /** The form is open (no absence set, or the doctor changes it). */
  const [editing, setEditing] = useState(false);
  const [busy, setBusy] = useState(false);
  const [failure, setFailure] = useState<{ prefix: MessageKey; code: ErrorCode } | null>(null);
  const [done, setDone] = useState<MessageKey | null>(null);
  const headingId = useId();

  const load = useCallback(async () => {
    setLoaded({ status: 'loading' });
    try {
      setLoaded({ status: 'ready', absence: await commands.getAbsence() });
    } catch (caught) {
      setLoaded({ status: 'error', code: errorCode(caught) });
    }
  }, []);

  useEffect(() => {
    void load();
  }, [load]);

  const save = async (absence: Absence) => {
    setBusy(true);
    setFailure(null);
    setDone(null);
    try {
      const saved = await commands.setAbsence(absence);
      setLoaded({ status: 'ready', absence: saved });
      setEditing(false);
      setDone('absence.saved');
    } catch (caught) {
      setFailure({ prefix: 'absence.saveFailed', code: errorCode(caught) });
    } finally {
      setBusy(false);
    }
  };

  const end = async () => {
    setBusy(true);
    setFailure(null);
    setDone(null);
    try {
      await commands.clearAbsence();
      setLoaded({ status: 'ready', absence: null });
      setEditing(false);
      setDone('absence.ended');
    } catch (caught) {
      setFailure({ prefix: 'absence.endFailed', code: errorCode(caught) });
    } finally {
      setBusy(false);
    }
  };

  const current = loaded.status === 'ready' && isCurrent(loaded.absence) ? loaded.absence : null;

  return (
    <section aria-labelledby={headingId} data-testid="absence-section">
      <h3 id={headingId} className="text-sm font-semibold text-slate-900">
        {t('absence.title')}
      </h3>
      <p className="text-xs text-slate-500">{t('absence.help')}</p>

      {loaded.status === 'loading' && (
        <div className="mt-2 text-blue-600">
          <Spinner label={t('common.loading')} className="h-4 w-4" />
        </div>
      )}
      {loaded.status === 'error' && (
        <div role="alert" className="mt-2 text-sm text-red-700">
          <p>
            {t('absence.loadFailed')} {t(failureKey(loaded.code))}
          </p>
          <button type="button" onClick={() => void load()} className="mt-1 font-semibold underline">
            {t('common.retry')}
          </button>
        </div>
      )}
      {loaded.status === 'ready' && (
        <div className="mt-2 space-y-2">
          {readOnly && <p className="text-xs text-amber-800">{t('absence.offline')}</p>}
          {current && !editing ? (
            <CurrentAbsence
              absence={current}
              disabled={busy || readOnly}
              busy={busy}
              onEnd={() => void end()}
              onEdit={() => {
                setDone(null);
                setFailure(null);
                setEditing(true);
              }}
            />
          ) : (
            <AbsenceForm
              // A fresh form each time it opens, from the absence being changed or from now.
              key={current ? `edit:${current.from}:${current.until}` : 'new'}
              initial={current ? draftOf(current) : emptyDraft()}
              disabled={readOnly}
              busy={busy}
              onSave={(absence) => void save(absence)}
              onCancel={
                current
                  ? () => {
                      setFailure(null);
                      setEditing(false);
                    }
                  : undefined
              }
            />
          )}
          {failure && (
            <p role="alert" className="text-sm text-red-700">
              {t(failure.prefix)} {t(failureKey(failure.code))}
            </p>
          )}
          {done && (
            <p role="status" className="text-sm text-emerald-800">
              {t(done)}
            </p>
          )}
        </div>
      )}
    </section>
  );
}

type CurrentAbsenceProps = {
  absence: Absence;
  disabled: boolean;
  busy: boolean;
  onEnd: () => void;
  onEdit: () => void;
};

/** "Absent(e) du … au …", the note, and the buttons to end or change it. */
function CurrentAbsence({ absence, disabled, busy, onEnd, onEdit }: CurrentAbsenceProps) {
  const { t, format } = useI18n();
  const when = (iso: string) => t('absence.when', { date: format.date(iso), time: format.time(iso) });
  const summary = hasBegun(absence) ? 'absence.current' : 'absence.scheduled';
  return (
    <div data-testid="absence-current" className="rounded-lg bg-amber-50 px-3 py-2 text-sm text-amber-950 ring-1 ring-amber-200">
      <p className="font-semibold">{t(summary, { from: when(absence.from), until: when(absence.until) })}</p>
      {absence.note && (
        <p data-testid="absence-current-note" className="mt-1 whitespace-pre-line break-words text-amber-900">
          {absence.note}
        </p>
      )}
      <div className="mt-2 flex flex-wrap items-center justify-end gap-2">
        {busy && <Spinner label={t('common.loading')} className="h-4 w-4 text-blue-600" />}
        <button type="button" onClick={onEdit} disabled={disabled} className={secondaryButton}>
          {t('absence.edit')}
        </button>
        <button type="button" onClick={onEnd} disabled={disabled} className={primaryButton}>
          {t('absence.end')}
        </button>
      </div>
    </div>
  );
}

type AbsenceFormProps = {
  initial: AbsenceDraft;
  disabled: boolean;
  busy: boolean;
  onSave: (absence: Absence) => void;
  /** Given when an absence is set: leave it as it is. */
  onCancel?: () => void;
};

function AbsenceForm({ initial, disabled, busy, onSave, onCancel }: AbsenceFormProps) {
  const { t, format } = useI18n();
  const [draft, setDraft] = useState<AbsenceDraft>(initial);
  const [errors, setErrors] = useState<AbsenceErrors>({});
  const ids = { from: useId(), until: useId(), note: useId(), privacy: useId(), counter: useId() };
  const count = characterCount(draft.note.trim());
  const over = count > ABSENCE_NOTE_MAX;

  const change = (field: keyof AbsenceDraft, value: string) => {
    setDraft((d) => ({ ...d, [field]: value }));
    // A field that was wrong is checked again as it changes; the others wait for "save".
    setErrors((e) => {
      if (!e[field]) return e;
      const next = { ...e };
      delete next[field];
      return next;
    });
  };

  const submit = (event: FormEvent) => {
    event.preventDefault();
    const result = validateAbsence(draft);
    if ('errors' in result) {
      setErrors(result.errors);
      const first = (['from', 'until', 'note'] as const).find((f) => result.errors[f]);
      if (first) document.getElementById(ids[first])?.focus();
      return;
    }
    setErrors({});
    onSave(result.absence);
  };

  const errorText = (field: keyof AbsenceDraft) => {
    const key = errors[field];
    if (!key) return null;
    return (
      <p id={`${ids[field]}-error`} data-testid={`absence-error-${field}`} className="mt-1 text-xs text-red-700">
        {t(key, { days: ABSENCE_MAX_DAYS, max: ABSENCE_NOTE_MAX })}
      </p>
    );
  };

  return (
    <form noValidate onSubmit={submit} className="space-y-3" aria-busy={busy || undefined}>
      <div className="grid gap-3 sm:grid-cols-2">
        <div>
          <label htmlFor={ids.from} className="block text-sm text-slate-700">
            {t('absence.from')}
          </label>
          <input
            id={ids.from}
            type="datetime-local"
            required
            value={draft.from}
            onChange={(e) => change('from', e.target.value)}
            disabled={disabled}
            aria-invalid={errors.from ? true : undefined}
            aria-describedby={errors.from ? `${ids.from}-error` : undefined}
            className={fieldClass}
          />
          {errorText('from')}
        </div>
        <div>
          <label htmlFor={ids.until} className="block text-sm text-slate-700">
            {t('absence.until')}
          </label>
          <input
            id={ids.until}
            type="datetime-local"
            required
            value={draft.until}
            onChange={(e) => change('until', e.target.value)}
            disabled={disabled}
            aria-invalid={errors.until ? true : undefined}
            aria-describedby={errors.until ? `${ids.until}-error` : undefined}
            className={fieldClass}
          />
          {errorText('until')}
        </div>
      </div>
      <div>
        <label htmlFor={ids.note} className="block text-sm text-slate-700">
          {t('absence.note')}
        </label>
        <textarea
          id={ids.note}
          rows={3}
          value={draft.note}
          onChange={(e) => change('note', e.target.value)}
          disabled={disabled}
          aria-invalid={errors.note || over ? true : undefined}
          aria-describedby={`${ids.privacy} ${ids.counter}${errors.note ? ` ${ids.note}-error` : ''}`}
          className={`${fieldClass} resize-y`}
        />
        <div className="mt-1 flex items-start justify-between gap-3 text-xs">
          <p id={ids.privacy} data-testid="absence-privacy" className="font-medium text-amber-800">
            {t('absence.privacy')}
          </p>
          <p id={ids.counter} data-testid="absence-counter" className={`shrink-0 tabular-nums ${over ? 'font-bold text-red-600' : 'text-slate-500'}`}>
            <span aria-hidden="true">
              {format.number(count)} / {format.number(ABSENCE_NOTE_MAX)}
            </span>
            <span className="sr-only">{t('composer.counter', { count, max: ABSENCE_NOTE_MAX })}</span>
          </p>
        </div>
        {errorText('note')}
      </div>
      <div className="flex flex-wrap items-center justify-end gap-2">
        {busy && <Spinner label={t('common.loading')} className="h-4 w-4 text-blue-600" />}
        {onCancel && (
          <button type="button" onClick={onCancel} disabled={busy} className={secondaryButton}>
            {t('common.cancel')}
          </button>
        )}
        <button type="submit" disabled={disabled || busy} className={primaryButton}>
          {t('absence.save')}
        </button>
      </div>
    </form>
  );
}
