/**
 * A conversation's lifecycle in its window (docs/messaging.md, "Closing a conversation"):
 * the doctor closes it (with an optional reason code the patient sees) and reopens it;
 * either participant archives an active one. While it is closed nobody can write: the
 * composer gives way to a banner that tells the patient why and how to reach the doctor
 * otherwise.
 */
import { useId, useRef, useState, type RefObject } from 'react';
import type { CloseReason, SessionStatus } from '../../api';
import { useI18n } from '../../i18n';
import { Dialog } from '../../components/Dialog';
import { Spinner } from '../../components/Spinner';
import { CLOSE_REASONS, CLOSE_REASON_LABEL, isCloseReason } from './systemEvents';

const actionButton =
  'rounded-lg bg-white px-2.5 py-1 text-xs font-semibold text-slate-700 ring-1 ring-slate-300 hover:bg-slate-50 focus-visible:outline focus-visible:outline-2 focus-visible:outline-offset-1 focus-visible:outline-blue-600 disabled:opacity-50';

type LifecycleBarProps = {
  /** The session's status; null while no session exists (nothing written yet). */
  status: SessionStatus | null;
  doctorView: boolean;
  /** A change is under way, or nothing can be changed (offline reading). */
  busy: boolean;
  disabled: boolean;
  onClose: () => void;
  onReopen: () => void;
  onArchive: () => void;
  /** Given to the doctor's close or reopen button, to bring focus back to it. */
  buttonRef: RefObject<HTMLButtonElement | null>;
};

/** The status line and the actions of the conversation's header. */
export function LifecycleBar({ status, doctorView, busy, disabled, onClose, onReopen, onArchive, buttonRef }: LifecycleBarProps) {
  const { t } = useI18n();
  const closed = status === 'closed';
  const canArchive = status === 'active';
  if (!closed && !doctorView && !canArchive) return null;
  return (
    <div data-testid="conversation-lifecycle" className="mt-1.5 flex flex-wrap items-center gap-2" aria-busy={busy || undefined}>
      {closed && (
        <p data-testid="conversation-status" className="text-xs font-semibold text-slate-800">
          {t('conversation.closed')}
        </p>
      )}
      <span className="ml-auto flex flex-wrap items-center gap-2">
        {busy && <Spinner label={t('lifecycle.busy')} className="h-3.5 w-3.5 text-blue-600" />}
        {doctorView && !closed && (
          <button ref={buttonRef} type="button" aria-haspopup="dialog" onClick={onClose} disabled={busy || disabled} className={actionButton}>
            {t('lifecycle.close')}
          </button>
        )}
        {doctorView && closed && (
          <button ref={buttonRef} type="button" onClick={onReopen} disabled={busy || disabled} className={actionButton}>
            {t('lifecycle.reopen')}
          </button>
        )}
        {canArchive && (
          <button type="button" onClick={onArchive} disabled={busy || disabled} className={actionButton}>
            {t('lifecycle.archive')}
          </button>
        )}
      </span>
    </div>
  );
}

type CloseConversationDialogProps = {
  onCancel: () => void;
  onConfirm: (reason: CloseReason | null) => void;
};

/** The doctor confirms the close and may pick a reason; Escape or "Annuler" leaves it open. */
export function CloseConversationDialog({ onCancel, onConfirm }: CloseConversationDialogProps) {
  const { t } = useI18n();
  const [reason, setReason] = useState<CloseReason | null>(null);
  const selectRef = useRef<HTMLSelectElement>(null);
  const selectId = useId();
  const hintId = useId();
  return (
    <Dialog title={t('lifecycle.closeTitle')} description={t('lifecycle.closeBody')} onClose={onCancel} initialFocusRef={selectRef}>
      <label htmlFor={selectId} className="block text-sm font-medium text-slate-800">
        {t('lifecycle.reason')}
      </label>
      <select
        ref={selectRef}
        id={selectId}
        value={reason ?? ''}
        onChange={(event) => setReason(isCloseReason(event.target.value) ? event.target.value : null)}
        aria-describedby={hintId}
        className="mt-1 w-full rounded-lg border-0 bg-white py-2 pl-3 pr-8 text-sm text-slate-800 ring-1 ring-slate-300 focus:outline-none focus-visible:outline focus-visible:outline-2 focus-visible:outline-blue-600"
      >
        <option value="">{t('lifecycle.reasonNone')}</option>
        {CLOSE_REASONS.map((code) => (
          <option key={code} value={code}>
            {t(CLOSE_REASON_LABEL[code])}
          </option>
        ))}
      </select>
      <p id={hintId} className="mt-1 text-xs text-slate-500">
        {t('lifecycle.reasonHint')}
      </p>
      <div className="mt-5 flex flex-col-reverse gap-2 sm:flex-row sm:justify-end">
        <button
          type="button"
          onClick={onCancel}
          className="rounded-lg border border-slate-300 px-4 py-2 text-sm font-medium text-slate-700 hover:bg-slate-50 focus-visible:outline focus-visible:outline-2 focus-visible:outline-offset-2 focus-visible:outline-blue-600"
        >
          {t('common.cancel')}
        </button>
        <button
          type="button"
          onClick={() => onConfirm(reason)}
          className="rounded-lg bg-slate-900 px-4 py-2 text-sm font-semibold text-white hover:bg-slate-700 focus-visible:outline focus-visible:outline-2 focus-visible:outline-offset-2 focus-visible:outline-blue-600"
        >
          {t('lifecycle.confirmClose')}
        </button>
      </div>
    </Dialog>
  );
}

/**
 * In place of the composer while the conversation is closed. The patient learns who
 * closed it, why (the reason of the latest close, when the loaded messages hold it) and
 * where to turn instead; the doctor, that reopening it lets them write again.
 */
export function ClosedBanner({ doctorView, reason }: { doctorView: boolean; reason: CloseReason | null }) {
  const { t } = useI18n();
  return (
    <div className="border-t border-slate-200 bg-white px-3 pb-3 pt-2 sm:px-4">
      <div role="status" data-testid="closed-banner" className="rounded-lg bg-slate-100 px-3 py-2 text-sm text-slate-700 ring-1 ring-slate-200">
        {doctorView ? (
          <p>{t('conversation.closedDoctorHint')}</p>
        ) : (
          <>
            <p className="font-semibold text-slate-900">{t('conversation.closedPatientTitle')}</p>
            {reason && (
              <p data-testid="closed-reason" className="mt-0.5">
                {t('conversation.closedReason', { reason: t(CLOSE_REASON_LABEL[reason]) })}
              </p>
            )}
            <p className="mt-1">{t('conversation.closedPatientHelp')}</p>
          </>
        )}
      </div>
    </div>
  );
}
