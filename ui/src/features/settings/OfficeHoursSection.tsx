/**
 * The doctor's weekly office hours, in the settings (docs/messaging.md, "Office hours"):
 * read with `get_office_hours`, edited day by day (Monday to Sunday, zero or more time
 * ranges each) in a time zone (the device's by default), saved with `set_office_hours`,
 * deleted with `clear_office_hours` after a confirmation. The form checks what the server
 * checks; a refusal is explained by its error code. The section says plainly that the
 * patients see these hours and get an automatic answer outside them.
 */
import { useCallback, useEffect, useId, useRef, useState, type FormEvent } from 'react';
import { commands, errorCode, type ErrorCode, type OfficeHours, type Weekday } from '../../api';
import { useI18n, type MessageKey } from '../../i18n';
import { Spinner } from '../../components/Spinner';
import { ConfirmDialog } from '../../components/ConfirmDialog';
import { errorKey } from '../../app/errorMessages';
import { useConnection } from '../connection/useConnection';
import {
  OFFICE_HOURS_MAX_SLOTS,
  WEEKDAYS,
  WEEKDAY_LABEL,
  draftOfOfficeHours,
  emptyOfficeHoursDraft,
  newRangeKey,
  rangeCount,
  timeZoneChoices,
  validateOfficeHours,
  zoneCity,
  type OfficeHoursDraft,
  type OfficeHoursErrors,
} from './officeHours';

type Loaded = { status: 'loading' } | { status: 'error'; code: ErrorCode } | { status: 'ready'; hours: OfficeHours | null };

const fieldClass =
  'rounded-lg border border-slate-300 bg-white px-2 py-1.5 text-sm focus:border-blue-500 focus:outline-none focus:ring-2 focus:ring-blue-500/30 aria-[invalid=true]:border-red-500 disabled:bg-slate-50';
const primaryButton =
  'rounded-lg bg-blue-600 px-4 py-2 text-sm font-semibold text-white hover:bg-blue-700 focus-visible:outline focus-visible:outline-2 focus-visible:outline-offset-2 focus-visible:outline-blue-600 disabled:opacity-50';
const secondaryButton =
  'rounded-lg border border-slate-300 bg-white px-3 py-2 text-sm font-medium text-slate-700 hover:bg-slate-50 focus-visible:outline focus-visible:outline-2 focus-visible:outline-offset-2 focus-visible:outline-blue-600 disabled:opacity-50';
const linkButton =
  'rounded text-sm font-medium text-blue-700 hover:underline focus-visible:outline focus-visible:outline-2 focus-visible:outline-offset-2 focus-visible:outline-blue-600 disabled:opacity-50 disabled:hover:no-underline';

/** The parameters of every sentence of this section. */
const PARAMS = { max: OFFICE_HOURS_MAX_SLOTS };

/** The sentence for a refused or failed command: unreachable server and refused hours said plainly, the rest by code. */
function failureKey(code: ErrorCode): MessageKey {
  if (code === 'NETWORK_UNAVAILABLE') return 'officeHours.error.network';
  if (code === 'VALIDATION_FAILED') return 'officeHours.error.validation';
  return errorKey(code);
}

export function OfficeHoursSection() {
  const { t } = useI18n();
  const { readOnly } = useConnection();
  const [loaded, setLoaded] = useState<Loaded>({ status: 'loading' });
  /** Bumped when the hours are read, saved or deleted: the editor starts again from them. */
  const [version, setVersion] = useState(0);
  const [busy, setBusy] = useState(false);
  const [confirming, setConfirming] = useState(false);
  const [failure, setFailure] = useState<{ prefix: MessageKey; code: ErrorCode } | null>(null);
  const [done, setDone] = useState<MessageKey | null>(null);
  const headingId = useId();
  const noteId = useId();

  const load = useCallback(async () => {
    setLoaded({ status: 'loading' });
    try {
      setLoaded({ status: 'ready', hours: await commands.getOfficeHours() });
    } catch (caught) {
      setLoaded({ status: 'error', code: errorCode(caught) });
    }
    setVersion((v) => v + 1);
  }, []);

  useEffect(() => {
    void load();
  }, [load]);

  const save = async (hours: OfficeHours) => {
    setBusy(true);
    setFailure(null);
    setDone(null);
    try {
      const saved = await commands.setOfficeHours(hours);
      setLoaded({ status: 'ready', hours: saved });
      setVersion((v) => v + 1);
      setDone('officeHours.saved');
    } catch (caught) {
      setFailure({ prefix: 'officeHours.saveFailed', code: errorCode(caught) });
    } finally {
      setBusy(false);
    }
  };

  const clear = async () => {
    setConfirming(false);
    setBusy(true);
    setFailure(null);
    setDone(null);
    try {
      await commands.clearOfficeHours();
      setLoaded({ status: 'ready', hours: null });
      setVersion((v) => v + 1);
      setDone('officeHours.cleared');
    } catch (caught) {
      setFailure({ prefix: 'officeHours.clearFailed', code: errorCode(caught) });
    } finally {
      setBusy(false);
    }
  };

  const saved = loaded.status === 'ready' ? loaded.hours : null;

  return (
    <section aria-labelledby={headingId} aria-describedby={noteId} data-testid="office-hours-section">
      <h3 id={headingId} className="text-sm font-semibold text-slate-900">
        {t('officeHours.title')}
      </h3>
      <p className="text-xs text-slate-500">{t('officeHours.help')}</p>
      <p id={noteId} data-testid="office-hours-note" className="mt-1 text-xs font-medium text-slate-700">
        {t('officeHours.note')}
      </p>

      {loaded.status === 'loading' && (
        <div className="mt-2 text-blue-600">
          <Spinner label={t('common.loading')} className="h-4 w-4" />
        </div>
      )}
      {loaded.status === 'error' && (
        <div role="alert" className="mt-2 text-sm text-red-700">
          <p>
            {t('officeHours.loadFailed')} {t(failureKey(loaded.code), PARAMS)}
          </p>
          <button type="button" onClick={() => void load()} className="mt-1 font-semibold underline">
            {t('common.retry')}
          </button>
        </div>
      )}
      {loaded.status === 'ready' && (
        <div className="mt-2 space-y-2">
          {readOnly && <p className="text-xs text-amber-800">{t('officeHours.offline')}</p>}
          {!saved && (
            <p data-testid="office-hours-none" className="text-xs text-slate-500">
              {t('officeHours.none')}
            </p>
          )}
          <OfficeHoursForm
            key={version}
            saved={saved}
            disabled={readOnly}
            busy={busy}
            onSave={(hours) => void save(hours)}
            onClear={
              saved
                ? () => {
                    setDone(null);
                    setConfirming(true);
                  }
                : undefined
            }
          />
          {failure && (
            <p role="alert" className="text-sm text-red-700">
              {t(failure.prefix)} {t(failureKey(failure.code), PARAMS)}
            </p>
          )}
          {done && (
            <p role="status" className="text-sm text-emerald-800">
              {t(done)}
            </p>
          )}
        </div>
      )}

      {confirming && (
        <ConfirmDialog
          title={t('officeHours.confirmClear.title')}
          description={t('officeHours.confirmClear.description')}
          confirmLabel={t('officeHours.confirmClear.confirm')}
          cancelLabel={t('common.cancel')}
          danger
          onConfirm={() => void clear()}
          onCancel={() => setConfirming(false)}
        />
      )}
    </section>
  );
}

type OfficeHoursFormProps = {
  /** The hours saved, which the editor starts from (none: an empty week in the device's zone). */
  saved: OfficeHours | null;
  disabled: boolean;
  busy: boolean;
  onSave: (hours: OfficeHours) => void;
  /** Given when hours are saved: delete them (after a confirmation). */
  onClear?: () => void;
};

const NO_ERRORS: OfficeHoursErrors = { ranges: {}, form: null };

function OfficeHoursForm({ saved, disabled, busy, onSave, onClear }: OfficeHoursFormProps) {
  const { t } = useI18n();
  const [draft, setDraft] = useState<OfficeHoursDraft>(() => (saved ? draftOfOfficeHours(saved) : emptyOfficeHoursDraft()));
  const [errors, setErrors] = useState<OfficeHoursErrors>(NO_ERRORS);
  const base = useId();
  const ids = { zone: `${base}-zone`, hint: `${base}-hint`, form: `${base}-form-error` };
  const rangeId = (key: string, part: 'start' | 'end' | 'error') => `${base}-${key}-${part}`;
  const addId = (day: Weekday) => `${base}-${day}-add`;
  /** The element to focus once the list has re-rendered (a new range, or the day's add button). */
  const focusNext = useRef<string | null>(null);
  const full = rangeCount(draft) >= OFFICE_HOURS_MAX_SLOTS;

  useEffect(() => {
    if (!focusNext.current) return;
    document.getElementById(focusNext.current)?.focus();
    focusNext.current = null;
  });

  /** A range changed or went: its own error goes (the others wait for "save"), and the form's. */
  const forget = (key: string | null) =>
    setErrors((e) => {
      if (!e.form && (key === null || !e.ranges[key])) return e;
      const ranges = { ...e.ranges };
      if (key !== null) delete ranges[key];
      return { ranges, form: null };
    });

  const setRange = (day: Weekday, key: string, part: 'start' | 'end', value: string) => {
    setDraft((d) => ({ ...d, days: { ...d.days, [day]: d.days[day].map((r) => (r.key === key ? { ...r, [part]: value } : r)) } }));
    forget(key);
  };

  const addRange = (day: Weekday) => {
    const key = newRangeKey();
    setDraft((d) => ({ ...d, days: { ...d.days, [day]: [...d.days[day], { key, start: '', end: '' }] } }));
    forget(null);
    focusNext.current = rangeId(key, 'start');
  };

  const removeRange = (day: Weekday, key: string) => {
    setDraft((d) => ({ ...d, days: { ...d.days, [day]: d.days[day].filter((r) => r.key !== key) } }));
    forget(key);
    focusNext.current = addId(day);
  };

  const submit = (event: FormEvent) => {
    event.preventDefault();
    const result = validateOfficeHours(draft);
    if ('errors' in result) {
      setErrors(result.errors);
      // The first range in error, in the order shown; else the zone or the form's message.
      const first = WEEKDAYS.flatMap((day) => draft.days[day]).find((r) => result.errors.ranges[r.key]);
      if (first) document.getElementById(rangeId(first.key, 'start'))?.focus();
      else if (result.errors.form === 'officeHours.error.timeZone') document.getElementById(ids.zone)?.focus();
      return;
    }
    setErrors(NO_ERRORS);
    onSave(result.hours);
  };

  return (
    <form noValidate onSubmit={submit} className="space-y-3" aria-busy={busy || undefined}>
      <div>
        <label htmlFor={ids.zone} className="block text-sm text-slate-700">
          {t('officeHours.timeZone')}
        </label>
        <select
          id={ids.zone}
          value={draft.timeZone}
          onChange={(e) => {
            const timeZone = e.target.value;
            setDraft((d) => ({ ...d, timeZone }));
            forget(null);
          }}
          disabled={disabled}
          aria-invalid={errors.form === 'officeHours.error.timeZone' ? true : undefined}
          className={`${fieldClass} mt-1 block w-full`}
        >
          {timeZoneChoices(draft.timeZone).map((zone) => (
            <option key={zone} value={zone}>
              {t('officeHours.timeZoneOption', { city: zoneCity(zone), zone })}
            </option>
          ))}
        </select>
      </div>

      <div className="divide-y divide-slate-100 rounded-lg ring-1 ring-slate-200">
        {WEEKDAYS.map((day) => {
          const dayId = `${base}-${day}-label`;
          const ranges = draft.days[day];
          return (
            <div
              key={day}
              role="group"
              aria-labelledby={dayId}
              data-testid={`office-hours-day-${day}`}
              className="flex flex-wrap items-start gap-x-3 gap-y-1 px-3 py-2 sm:flex-nowrap"
            >
              <span id={dayId} className="w-24 shrink-0 pt-1.5 text-sm font-medium text-slate-800">
                {t(WEEKDAY_LABEL[day])}
              </span>
              <div className="min-w-0 flex-1 space-y-1.5">
                {ranges.length === 0 && <p className="pt-1.5 text-xs text-slate-400">{t('officeHours.noRange')}</p>}
                {ranges.map((range, index) => {
                  const error = errors.ranges[range.key];
                  const errorId = rangeId(range.key, 'error');
                  const n = index + 1;
                  const fieldProps = { disabled, 'aria-invalid': error ? true : undefined };
                  return (
                    <div key={range.key} data-testid="office-hours-range">
                      <div className="flex flex-wrap items-center gap-2">
                        <label htmlFor={rangeId(range.key, 'start')} className="sr-only">
                          {t('officeHours.start', { n })}
                        </label>
                        <input
                          id={rangeId(range.key, 'start')}
                          type="time"
                          value={range.start}
                          onChange={(e) => setRange(day, range.key, 'start', e.target.value)}
                          aria-describedby={error ? errorId : undefined}
                          className={fieldClass}
                          {...fieldProps}
                        />
                        <span aria-hidden="true" className="text-sm text-slate-500">
                          {t('officeHours.to')}
                        </span>
                        <label htmlFor={rangeId(range.key, 'end')} className="sr-only">
                          {t('officeHours.end', { n })}
                        </label>
                        <input
                          id={rangeId(range.key, 'end')}
                          type="time"
                          value={range.end}
                          onChange={(e) => setRange(day, range.key, 'end', e.target.value)}
                          aria-describedby={error ? `${errorId} ${ids.hint}` : ids.hint}
                          className={fieldClass}
                          {...fieldProps}
                        />
                        <button
                          type="button"
                          onClick={() => removeRange(day, range.key)}
                          disabled={disabled}
                          aria-label={t('officeHours.removeRangeNamed', { n })}
                          className={linkButton}
                        >
                          {t('officeHours.removeRange')}
                        </button>
                      </div>
                      {error && (
                        <p id={errorId} data-testid="office-hours-range-error" className="mt-1 text-xs text-red-700">
                          {t(error, PARAMS)}
                        </p>
                      )}
                    </div>
                  );
                })}
                <button id={addId(day)} type="button" onClick={() => addRange(day)} disabled={disabled || full} className={linkButton}>
                  {t('officeHours.addRange')}
                </button>
              </div>
            </div>
          );
        })}
      </div>
      <p id={ids.hint} className="text-xs text-slate-500">
        {t('officeHours.midnightHint')}
      </p>

      {errors.form && (
        <p id={ids.form} role="alert" data-testid="office-hours-form-error" className="text-sm text-red-700">
          {t(errors.form, PARAMS)}
        </p>
      )}

      <div className="flex flex-wrap items-center justify-end gap-2">
        {busy && <Spinner label={t('common.loading')} className="h-4 w-4 text-blue-600" />}
        {onClear && (
          <button type="button" onClick={onClear} disabled={disabled || busy} className={secondaryButton}>
            {t('officeHours.clear')}
          </button>
        )}
        <button type="submit" disabled={disabled || busy} className={primaryButton}>
          {t('officeHours.save')}
        </button>
      </div>
    </form>
  );
}
