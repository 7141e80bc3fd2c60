/**
 * When the record's doctor reads messages (docs/messaging.md, "Office hours"): the
 * patient reads it before writing — on the record, next to its messaging button, and in
 * the open conversation above the composer — as one line, days Monday first, in the
 * doctor's time zone ("Dr Sophie Martin lit les messages : lun. 9:00–12:00, 14:00–18:00
 * · jeu. 14:00–18:00 (heure de Paris)"). Whether the doctor reads now is the server's
 * business: a patient who writes outside these hours gets its automatic answer.
 */
import type { ContextSummary, OfficeHours, User } from '../../api';
import { useI18n } from '../../i18n';
import { officeHoursSummary, zoneCity } from '../settings/officeHours';

/** The hours to show to `me` on this record: only to the record's patient (the server sends them to no one else). */
export function doctorOfficeHoursFor(context: ContextSummary, me: Pick<User, 'id' | 'type'>): OfficeHours | null {
  const hours = context.doctorOfficeHours;
  if (!hours || hours.slots.length === 0 || me.type !== 'patient' || me.id !== context.patient.id) return null;
  return hours;
}

type DoctorOfficeHoursLineProps = {
  hours: OfficeHours;
  /** The doctor's name, as the record gives it ("Dr Sophie Martin"). */
  doctorName: string;
  /** For aria-describedby of the button it goes with. */
  id?: string;
  className?: string;
};

export function DoctorOfficeHoursLine({ hours, doctorName, id, className = '' }: DoctorOfficeHoursLineProps) {
  const { t } = useI18n();
  return (
    <p id={id} role="note" data-testid="doctor-office-hours" className={`text-xs text-slate-600 ${className}`}>
      {t('officeHours.patient.line', { name: doctorName, hours: officeHoursSummary(hours, t), zone: zoneCity(hours.timeZone) })}
    </p>
  );
}
