/**
 * The record's doctor is away (docs/messaging.md, "Absence"): the patient learns it
 * before writing — on the record, next to its messaging button, and in the open
 * conversation above the composer — with the date of return, the doctor's note and the
 * emergency numbers. Writing stays possible: the doctor reads it on return.
 */
import type { Absence, ContextSummary, User } from '../../api';
import { useI18n } from '../../i18n';
import { ClockIcon } from '../../components/icons';

/**
 * The absence to show to `me` on this record: only to the record's patient (the server
 * sends it to no one else), and no longer once it has ended while the list was on screen.
 */
export function doctorAbsenceFor(context: ContextSummary, me: Pick<User, 'id' | 'type'>, now: number = Date.now()): Absence | null {
  const absence = context.doctorAbsence;
  if (!absence || me.type !== 'patient' || me.id !== context.patient.id) return null;
  const until = Date.parse(absence.until);
  return Number.isFinite(until) && until > now ? absence : null;
}

type DoctorAbsenceNoticeProps = {
  absence: Absence;
  /** For aria-describedby of the button or dialog it goes with. */
  id?: string;
  className?: string;
};

export function DoctorAbsenceNotice({ absence, id, className = '' }: DoctorAbsenceNoticeProps) {
  const { t, format } = useI18n();
  return (
    <div
      id={id}
      role="note"
      data-testid="doctor-absence"
      className={`flex items-start gap-2 rounded-lg bg-amber-50 px-3 py-2 text-sm text-amber-950 ring-1 ring-amber-200 ${className}`}
    >
      <ClockIcon className="mt-0.5 h-4 w-4 shrink-0 text-amber-700" />
      <div className="min-w-0">
        <p className="font-semibold">{t('absence.patient.away', { date: format.date(absence.until) })}</p>
        {absence.note && (
          <p data-testid="doctor-absence-note" className="mt-0.5 whitespace-pre-line break-words">
            {absence.note}
          </p>
        )}
        <p className="mt-0.5 text-amber-900">{t('absence.patient.emergency')}</p>
      </div>
    </div>
  );
}
