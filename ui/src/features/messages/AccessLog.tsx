/**
 * The patient's access log of a record's conversation (docs/messaging.md, "The patient's
 * access log"): who read, exported, downloaded, closed, reopened or archived it, and what
 * the administrator did to the patient's account. Never any content: the server only
 * records who did what, when. A header button opens a dialog that loads the log each
 * time it opens; Escape closes it and focus goes back to the button.
 */
import { useEffect, useId, useMemo, useRef, useState } from 'react';
import { commands, errorCode, type AccessLogEntry, type AccessLogResponse, type ContextRef, type ErrorCode } from '../../api';
import { useI18n, type MessageKey, type Translate } from '../../i18n';
import { Dialog } from '../../components/Dialog';
import { HistoryIcon } from '../../components/icons';
import { Spinner } from '../../components/Spinner';
import { errorKey } from '../../app/errorMessages';

/** Reads by the same person this close to each other make one line. */
export const READ_GROUP_MS = 5 * 60_000;

/** One line of the log: an entry, or a run of reads (`entry` is the newest of them). */
export type AccessLogLine = { entry: AccessLogEntry; count: number };

/**
 * Folds consecutive `read` entries by the same person into one line when each is within
 * READ_GROUP_MS of the next, so a doctor paging through the history shows once. The
 * entries come newest first; a line keeps its newest entry (and so its newest time).
 */
export function groupReads(entries: readonly AccessLogEntry[]): AccessLogLine[] {
  const lines: AccessLogLine[] = [];
  // The time of the oldest read folded into the last line so far.
  let oldest = Number.NaN;
  for (const entry of entries) {
    const at = Date.parse(entry.at);
    const last = lines[lines.length - 1];
    if (
      last &&
      entry.action === 'read' &&
      last.entry.action === 'read' &&
      last.entry.who.id === entry.who.id &&
      Math.abs(oldest - at) <= READ_GROUP_MS
    ) {
      last.count += 1;
    } else {
      lines.push({ entry, count: 1 });
    }
    oldest = at;
  }
  return lines;
}

type ConversationAction = Exclude<AccessLogEntry['action'], 'account'>;

const ACTION_KEY: Record<ConversationAction, MessageKey> = {
  read: 'accessLog.action.read',
  export: 'accessLog.action.export',
  download: 'accessLog.action.download',
  close: 'accessLog.action.close',
  reopen: 'accessLog.action.reopen',
  archive: 'accessLog.action.archive',
};

/** The same, after "Vous" (French conjugates it). */
const SELF_ACTION_KEY: Record<ConversationAction, MessageKey> = {
  read: 'accessLog.self.read',
  export: 'accessLog.self.export',
  download: 'accessLog.self.download',
  close: 'accessLog.self.close',
  reopen: 'accessLog.self.reopen',
  archive: 'accessLog.self.archive',
};

/** The administrator's action codes on an account; any other one is "updated". */
const ACCOUNT_KEY = new Map<string, MessageKey>([
  ['user_disable', 'accessLog.account.disable'],
  ['user_enable', 'accessLog.account.enable'],
  ['user_passwd', 'accessLog.account.passwd'],
]);

const ROLE_KEY: Partial<Record<AccessLogEntry['who']['type'], MessageKey>> = {
  patient: 'accessLog.role.patient',
  medecin: 'accessLog.role.medecin',
  admin: 'accessLog.role.admin',
};

/** What a line says was done, in plain language ("a consulté la conversation (3 fois)"). */
export function describeAction({ entry, count }: AccessLogLine, self: boolean, t: Translate): string {
  const action =
    entry.action === 'account'
      ? t(ACCOUNT_KEY.get(entry.detail ?? '') ?? 'accessLog.account.update')
      : t((self ? SELF_ACTION_KEY : ACTION_KEY)[entry.action]);
  return count > 1 ? t('accessLog.repeated', { action, count }) : action;
}

type AccessLogButtonProps = {
  context: ContextRef;
  /** The signed-in patient: their own entries read "Vous". */
  meId: string;
  /** Offline reading: the log cannot be fetched, the button says why. */
  disabled: boolean;
  buttonClassName: string;
};

/** The header button and its dialog. */
export function AccessLogButton({ context, meId, disabled, buttonClassName }: AccessLogButtonProps) {
  const { t } = useI18n();
  const [open, setOpen] = useState(false);
  const buttonRef = useRef<HTMLButtonElement>(null);
  const wasOpen = useRef(false);
  const offlineId = useId();

  // Back to the button once the dialog is gone (a click does not focus a button in every
  // webview, so the dialog's own "back to the opener" may have nowhere to go).
  useEffect(() => {
    if (open) {
      wasOpen.current = true;
    } else if (wasOpen.current) {
      wasOpen.current = false;
      buttonRef.current?.focus();
    }
  }, [open]);

  return (
    <>
      <button
        ref={buttonRef}
        type="button"
        data-testid="access-log-button"
        aria-haspopup="dialog"
        aria-label={t('accessLog.button')}
        aria-describedby={disabled ? offlineId : undefined}
        title={disabled ? t('accessLog.offline') : t('accessLog.button')}
        disabled={disabled}
        onClick={() => setOpen(true)}
        className={`${buttonClassName} disabled:cursor-not-allowed disabled:opacity-40`}
      >
        <HistoryIcon />
      </button>
      {disabled && (
        <span id={offlineId} className="sr-only">
          {t('accessLog.offline')}
        </span>
      )}
      {open && <AccessLogDialog context={context} meId={meId} onClose={() => setOpen(false)} />}
    </>
  );
}

type LoadState = { status: 'loading' } | { status: 'error'; code: ErrorCode } | { status: 'ready'; log: AccessLogResponse };

function AccessLogDialog({ context, meId, onClose }: { context: ContextRef; meId: string; onClose: () => void }) {
  const { t, format } = useI18n();
  const [state, setState] = useState<LoadState>({ status: 'loading' });
  const [attempt, setAttempt] = useState(0);
  const closeRef = useRef<HTMLButtonElement>(null);
  const listLabelId = useId();

  useEffect(() => {
    let live = true;
    commands.accessLog(context.type, context.id).then(
      (log) => live && setState({ status: 'ready', log }),
      (caught: unknown) => live && setState({ status: 'error', code: errorCode(caught) }),
    );
    return () => {
      live = false;
    };
  }, [context.type, context.id, attempt]);

  const lines = useMemo(() => (state.status === 'ready' ? groupReads(state.log.entries) : []), [state]);

  const retry = () => {
    setState({ status: 'loading' });
    setAttempt((n) => n + 1);
  };

  return (
    <Dialog title={t('accessLog.title')} description={t('accessLog.intro')} onClose={onClose} initialFocusRef={closeRef} className="max-w-lg">
      <div data-testid="access-log" aria-busy={state.status === 'loading' || undefined}>
        {state.status === 'loading' && (
          <p role="status" className="flex items-center gap-2 py-4 text-sm text-slate-600">
            <Spinner className="h-4 w-4 text-blue-600" />
            {t('accessLog.loading')}
          </p>
        )}
        {state.status === 'error' && (
          <div role="alert" className="rounded-lg bg-red-50 p-3 text-sm text-red-800 ring-1 ring-red-200">
            <p>{t(errorKey(state.code))}</p>
            <button
              type="button"
              onClick={retry}
              className="mt-1 font-semibold underline focus-visible:outline focus-visible:outline-2 focus-visible:outline-blue-600"
            >
              {t('common.retry')}
            </button>
          </div>
        )}
        {state.status === 'ready' && lines.length === 0 && (
          <p data-testid="access-log-empty" className="py-4 text-sm text-slate-600">
            {t('accessLog.empty')}
          </p>
        )}
        {state.status === 'ready' && lines.length > 0 && (
          <>
            <span id={listLabelId} className="sr-only">
              {t('accessLog.title')}
            </span>
            {/* Focusable so that a long log can be scrolled from the keyboard. */}
            <ol
              aria-labelledby={listLabelId}
              tabIndex={0}
              className="max-h-[55vh] divide-y divide-slate-100 overflow-y-auto rounded-lg ring-1 ring-slate-200 focus-visible:outline focus-visible:outline-2 focus-visible:outline-blue-600"
            >
              {lines.map((line, index) => {
                const { entry } = line;
                const self = entry.who.id === meId;
                const role = ROLE_KEY[entry.who.type];
                return (
                  <li key={`${entry.at}-${index}`} data-testid="access-log-entry" data-action={entry.action} className="px-3 py-2">
                    <p className="text-sm text-slate-900">
                      <span className="font-semibold">{self ? t('accessLog.you') : entry.who.name}</span>
                      {!self && role && <span className="text-slate-500"> ({t(role)})</span>} {describeAction(line, self, t)}
                    </p>
                    <p className="mt-0.5 text-xs text-slate-500">
                      <time dateTime={entry.at}>{t('accessLog.when', { date: format.date(entry.at), time: format.time(entry.at) })}</time>
                    </p>
                  </li>
                );
              })}
            </ol>
          </>
        )}
        {state.status === 'ready' && state.log.truncated && (
          <p data-testid="access-log-truncated" className="mt-2 text-xs text-slate-500">
            {t('accessLog.truncated')}
          </p>
        )}
      </div>
      <div className="mt-4 flex justify-end">
        <button
          ref={closeRef}
          type="button"
          onClick={onClose}
          className="rounded-lg bg-slate-900 px-4 py-2 text-sm font-semibold text-white hover:bg-slate-700 focus-visible:outline focus-visible:outline-2 focus-visible:outline-offset-2 focus-visible:outline-blue-600"
        >
          {t('common.close')}
        </button>
      </div>
    </Dialog>
  );
}
