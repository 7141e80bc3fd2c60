/**
 * The doctor's reply templates, in the settings (docs/messaging.md, "Reply templates"):
 * the list (title and a one-line preview), a form to add or change one (title, text
 * with `{prenom}`, `{nom}`, `{document}`), and deleting one after a confirmation. They
 * are end-to-end encrypted for the doctor's own devices, which the section says. The
 * form checks what the server checks; a refusal is explained by its error code. Each
 * save or delete answers the whole list, which the composer's picker then uses.
 */
import { useEffect, useId, useState, type FormEvent } from 'react';
import { commands, errorCode, type ErrorCode, type ReplyTemplate } from '../../api';
import { useI18n, type MessageKey, type TParams } from '../../i18n';
import { ConfirmDialog } from '../../components/ConfirmDialog';
import { LockIcon } from '../../components/icons';
import { Spinner } from '../../components/Spinner';
import { errorKey } from '../../app/errorMessages';
import { useConnection } from '../connection/useConnection';
import { characterCount } from '../messages/conversationState';
import {
  TEMPLATE_MAX_COUNT,
  TEMPLATE_PLACEHOLDERS,
  TEMPLATE_TEXT_MAX,
  TEMPLATE_TITLE_MAX,
  previewOf,
  validateTemplate,
  type TemplateDraft,
  type TemplateErrors,
} from '../templates/templates';
import { useTemplates } from '../templates/useTemplates';

const fieldClass =
  'mt-1 block w-full rounded-lg border border-slate-300 bg-white px-3 py-2 text-sm focus:border-blue-500 focus:outline-none focus:ring-2 focus:ring-blue-500/30 aria-[invalid=true]:border-red-500';
const primaryButton =
  'rounded-lg bg-blue-600 px-4 py-2 text-sm font-semibold text-white hover:bg-blue-700 focus-visible:outline focus-visible:outline-2 focus-visible:outline-offset-2 focus-visible:outline-blue-600 disabled:opacity-50';
const secondaryButton =
  'rounded-lg border border-slate-300 bg-white px-3 py-2 text-sm font-medium text-slate-700 hover:bg-slate-50 focus-visible:outline focus-visible:outline-2 focus-visible:outline-offset-2 focus-visible:outline-blue-600 disabled:opacity-50';
const smallButton =
  'rounded-md px-2 py-1 text-xs font-semibold focus-visible:outline focus-visible:outline-2 focus-visible:outline-offset-1 focus-visible:outline-blue-600 disabled:opacity-50';

/** The server's limits, for the sentences that quote them. */
const LIMITS: TParams = { titleMax: TEMPLATE_TITLE_MAX, textMax: TEMPLATE_TEXT_MAX, count: TEMPLATE_MAX_COUNT };

/** The sentence for a refused or failed command: the template's own rules for a refusal, the rest by code. */
function failureKey(code: ErrorCode): MessageKey {
  if (code === 'VALIDATION_FAILED') return 'templates.error.validation';
  if (code === 'CONFLICT') return 'templates.error.conflict';
  if (code === 'NETWORK_UNAVAILABLE') return 'templates.error.network';
  return errorKey(code);
}

/** Which form is open: none, a new template, or the template with this id. */
type Editing = null | { id: string };

export function TemplatesSection() {
  const { t } = useI18n();
  const { readOnly } = useConnection();
  const store = useTemplates();
  const [editing, setEditing] = useState<Editing>(null);
  const [confirming, setConfirming] = useState<ReplyTemplate | null>(null);
  const [busy, setBusy] = useState(false);
  const [failure, setFailure] = useState<{ prefix: MessageKey; code: ErrorCode } | null>(null);
  const [done, setDone] = useState<MessageKey | null>(null);
  const ids = { heading: useId(), privacy: useId(), limit: useId() };
  const { load, set } = store;

  // The settings show the list as the server has it now (another device may have changed it).
  useEffect(() => {
    void load(true);
  }, [load]);

  const templates = store.templates;
  const atLimit = (templates?.length ?? 0) >= TEMPLATE_MAX_COUNT;

  const run = async (prefix: MessageKey, action: () => Promise<ReplyTemplate[]>, success: MessageKey) => {
    setBusy(true);
    setFailure(null);
    setDone(null);
    try {
      set(await action());
      setEditing(null);
      setDone(success);
    } catch (caught) {
      const code = errorCode(caught);
      setFailure({ prefix, code });
      // Another device saved at the same moment: show its list before the doctor tries again.
      if (code === 'CONFLICT') void load(true);
    } finally {
      setBusy(false);
    }
  };

  const save = (template: ReplyTemplate) => void run('templates.saveFailed', () => commands.saveTemplate(template), 'templates.saved');

  const remove = (template: ReplyTemplate) => {
    setConfirming(null);
    void run('templates.deleteFailed', () => commands.deleteTemplate(template.id), 'templates.deleted');
  };

  const openForm = (next: Editing) => {
    setDone(null);
    setFailure(null);
    setEditing(next);
  };

  const edited = editing && editing.id !== '' ? templates?.find((x) => x.id === editing.id) : undefined;

  return (
    <section aria-labelledby={ids.heading} data-testid="templates-section">
      <h3 id={ids.heading} className="text-sm font-semibold text-slate-900">
        {t('templates.title')}
      </h3>
      <p className="text-xs text-slate-500">{t('templates.help')}</p>
      <p id={ids.privacy} data-testid="templates-privacy" className="mt-1 flex items-center gap-1 text-xs font-medium text-emerald-800">
        <LockIcon className="h-3.5 w-3.5 shrink-0" />
        {t('templates.privacy')}
      </p>

      {templates === null && store.status !== 'error' && (
        <div className="mt-2 text-blue-600">
          <Spinner label={t('common.loading')} className="h-4 w-4" />
        </div>
      )}
      {store.status === 'error' && store.code && (
        <div role="alert" className="mt-2 text-sm text-red-700">
          <p>
            {t('templates.loadFailed')} {t(failureKey(store.code))}
          </p>
          <button type="button" onClick={() => void load(true)} className="mt-1 font-semibold underline">
            {t('common.retry')}
          </button>
        </div>
      )}

      {templates !== null && (
        <div className="mt-2 space-y-2">
          {readOnly && <p className="text-xs text-amber-800">{t('templates.offline')}</p>}
          {templates.length === 0 ? (
            <p className="text-sm text-slate-500">{t('templates.none')}</p>
          ) : (
            <ul aria-labelledby={ids.heading} className="divide-y divide-slate-100 rounded-lg ring-1 ring-slate-200" data-testid="templates-list">
              {templates.map((template) => (
                <li key={template.id} className="flex items-center gap-2 px-3 py-2">
                  <div className="min-w-0 flex-1">
                    <p className="truncate text-sm font-semibold text-slate-900">{template.title}</p>
                    <p className="truncate text-xs text-slate-500" data-testid="template-preview">
                      {previewOf(template.text)}
                    </p>
                  </div>
                  <button
                    type="button"
                    onClick={() => openForm({ id: template.id })}
                    aria-label={t('templates.editNamed', { title: template.title })}
                    disabled={busy || readOnly}
                    className={`${smallButton} text-blue-700 hover:bg-blue-50`}
                  >
                    {t('templates.edit')}
                  </button>
                  <button
                    type="button"
                    onClick={() => setConfirming(template)}
                    aria-label={t('templates.deleteNamed', { title: template.title })}
                    disabled={busy || readOnly}
                    className={`${smallButton} text-red-700 hover:bg-red-50`}
                  >
                    {t('templates.delete')}
                  </button>
                </li>
              ))}
            </ul>
          )}

          {editing ? (
            <TemplateForm
              // A fresh form for each template opened.
              key={editing.id || 'new'}
              id={editing.id}
              initial={edited ? { title: edited.title, text: edited.text } : { title: '', text: '' }}
              describedBy={ids.privacy}
              disabled={readOnly}
              busy={busy}
              onSave={save}
              onCancel={() => {
                setFailure(null);
                setEditing(null);
              }}
            />
          ) : (
            <div className="flex flex-wrap items-center justify-end gap-2">
              {atLimit && (
                <p id={ids.limit} className="mr-auto text-xs text-amber-800">
                  {t('templates.limitReached', { max: TEMPLATE_MAX_COUNT })}
                </p>
              )}
              <button
                type="button"
                onClick={() => openForm({ id: '' })}
                disabled={busy || readOnly || atLimit}
                aria-describedby={atLimit ? ids.limit : undefined}
                className={secondaryButton}
              >
                {t('templates.add')}
              </button>
            </div>
          )}

          {failure && (
            <p role="alert" className="text-sm text-red-700">
              {t(failure.prefix)} {t(failureKey(failure.code), LIMITS)}
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
          title={t('templates.confirmDelete.title')}
          description={t('templates.confirmDelete.description', { title: confirming.title })}
          confirmLabel={t('templates.confirmDelete.confirm')}
          cancelLabel={t('common.cancel')}
          danger
          onConfirm={() => remove(confirming)}
          onCancel={() => setConfirming(null)}
        />
      )}
    </section>
  );
}

type TemplateFormProps = {
  /** Empty for a new template. */
  id: string;
  initial: TemplateDraft;
  /** The encryption note, read with the fields. */
  describedBy: string;
  disabled: boolean;
  busy: boolean;
  onSave: (template: ReplyTemplate) => void;
  onCancel: () => void;
};

function TemplateForm({ id, initial, describedBy, disabled, busy, onSave, onCancel }: TemplateFormProps) {
  const { t, format } = useI18n();
  const [draft, setDraft] = useState<TemplateDraft>(initial);
  const [errors, setErrors] = useState<TemplateErrors>({});
  const ids = { heading: useId(), title: useId(), text: useId(), placeholders: useId(), counter: useId() };
  const count = characterCount(draft.text.trim());
  const over = count > TEMPLATE_TEXT_MAX;

  const change = (field: keyof TemplateDraft, value: string) => {
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
    const result = validateTemplate(draft, id);
    if ('errors' in result) {
      setErrors(result.errors);
      const first = (['title', 'text'] as const).find((f) => result.errors[f]);
      if (first) document.getElementById(ids[first])?.focus();
      return;
    }
    setErrors({});
    onSave(result.template);
  };

  const errorText = (field: keyof TemplateDraft) => {
    const key = errors[field];
    if (!key) return null;
    return (
      <p id={`${ids[field]}-error`} role="alert" data-testid={`template-error-${field}`} className="mt-1 text-xs text-red-700">
        {t(key, { max: field === 'title' ? TEMPLATE_TITLE_MAX : TEMPLATE_TEXT_MAX })}
      </p>
    );
  };

  return (
    <form
      noValidate
      onSubmit={submit}
      aria-labelledby={ids.heading}
      aria-busy={busy || undefined}
      data-testid="template-form"
      className="space-y-3 rounded-lg bg-slate-50 p-3 ring-1 ring-slate-200"
    >
      <h4 id={ids.heading} className="text-sm font-semibold text-slate-800">
        {t(id ? 'templates.formEdit' : 'templates.formNew')}
      </h4>
      <div>
        <label htmlFor={ids.title} className="block text-sm text-slate-700">
          {t('templates.fieldTitle')}
        </label>
        <input
          id={ids.title}
          type="text"
          required
          value={draft.title}
          onChange={(e) => change('title', e.target.value)}
          disabled={disabled}
          aria-invalid={errors.title ? true : undefined}
          aria-describedby={errors.title ? `${ids.title}-error` : undefined}
          className={fieldClass}
        />
        {errorText('title')}
      </div>
      <div>
        <label htmlFor={ids.text} className="block text-sm text-slate-700">
          {t('templates.fieldText')}
        </label>
        <textarea
          id={ids.text}
          rows={4}
          required
          value={draft.text}
          onChange={(e) => change('text', e.target.value)}
          disabled={disabled}
          aria-invalid={errors.text || over ? true : undefined}
          aria-describedby={`${ids.placeholders} ${describedBy} ${ids.counter}${errors.text ? ` ${ids.text}-error` : ''}`}
          className={`${fieldClass} resize-y`}
        />
        <div className="mt-1 flex items-start justify-between gap-3 text-xs">
          <div id={ids.placeholders} data-testid="template-placeholders" className="text-slate-600">
            {t('templates.placeholders')}{' '}
            {TEMPLATE_PLACEHOLDERS.map((p, index) => (
              <span key={p.token}>
                <code className="rounded bg-white px-1 font-mono text-slate-800 ring-1 ring-slate-200">{p.token}</code> {t(p.label)}
                {index < TEMPLATE_PLACEHOLDERS.length - 1 ? ', ' : '.'}
              </span>
            ))}
          </div>
          <p id={ids.counter} data-testid="template-counter" className={`shrink-0 tabular-nums ${over ? 'font-bold text-red-600' : 'text-slate-500'}`}>
            <span aria-hidden="true">
              {format.number(count)} / {format.number(TEMPLATE_TEXT_MAX)}
            </span>
            <span className="sr-only">{t('composer.counter', { count, max: TEMPLATE_TEXT_MAX })}</span>
          </p>
        </div>
        {errorText('text')}
      </div>
      <div className="flex flex-wrap items-center justify-end gap-2">
        {busy && <Spinner label={t('common.loading')} className="h-4 w-4 text-blue-600" />}
        <button type="button" onClick={onCancel} disabled={busy} className={secondaryButton}>
          {t('common.cancel')}
        </button>
        <button type="submit" disabled={disabled || busy} className={primaryButton}>
          {t('templates.save')}
        </button>
      </div>
    </form>
  );
}
