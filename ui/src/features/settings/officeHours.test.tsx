/**
 * The doctor's office hours in the settings (docs/messaging.md, "Office hours"): reading
 * them with `get_office_hours`, editing the week day by day, saving them with
 * `set_office_hours` ("HH:MM" local times in an IANA zone), the checks the server makes
 * repeated in the form, the server's refusal, deleting them with `clear_office_hours`
 * after a confirmation; and no such section for a patient.
 */
import { screen, waitFor, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { describe, expect, it, vi } from 'vitest';
import type { Language, OfficeHours, User } from '../../api';
import { translate } from '../../i18n';
import { commandError, mockBackend, type Handlers } from '../../test/ipc';
import { doctorUser, patientUser } from '../../test/fixtures';
import { renderWithProviders } from '../../test/render';
import { SettingsPanel } from './SettingsPanel';
import {
  draftOfOfficeHours,
  emptyOfficeHoursDraft,
  officeHoursSummary,
  slotsByDay,
  timeZoneChoices,
  validateOfficeHours,
  zoneCity,
  type OfficeHoursDraft,
} from './officeHours';

const fr = (key: Parameters<typeof translate>[1], params?: Parameters<typeof translate>[2]) => translate('fr', key, params);

type Setup = { me?: User; handlers?: Handlers; language?: Language };

function openSettings({ me = doctorUser, handlers = {}, language = 'fr' }: Setup = {}) {
  const backend = mockBackend({ get_settings: { value: { language, notificationPreview: true } }, ...handlers });
  const user = userEvent.setup();
  renderWithProviders(<SettingsPanel user={me} peers={[]} onClose={vi.fn()} />, { language });
  return { backend, user };
}

/** Saving answers what was sent, as the server does. */
const echo: Handlers['set_office_hours'] = (args) => (args as { hours: OfficeHours }).hours;

/** The office hours section, once `get_office_hours` has answered. */
async function hoursSection() {
  const section = await screen.findByTestId('office-hours-section');
  await waitFor(() => expect(section).not.toHaveTextContent(fr('common.loading')));
  return section;
}

const day = (section: HTMLElement, name: string) => within(section).getByRole('group', { name });
const time = (group: HTMLElement, label: string) => within(group).getByLabelText(label) as HTMLInputElement;

/** Adds a range to a day and types its start and end. */
async function addRange(user: ReturnType<typeof userEvent.setup>, group: HTMLElement, start: string, end: string) {
  await user.click(within(group).getByRole('button', { name: 'Ajouter une plage' }));
  const n = within(group).getAllByTestId('office-hours-range').length;
  const startInput = time(group, `Début de la plage ${n}`);
  // The new range's start has the focus.
  expect(startInput).toHaveFocus();
  await user.type(startInput, start);
  await user.type(time(group, `Fin de la plage ${n}`), end);
}

const save = (section: HTMLElement) => within(section).getByRole('button', { name: 'Enregistrer les horaires' });

describe('the doctor’s office hours', () => {
  it('are set from the settings: ranges by day, a time zone, sent as "HH:MM" slots Monday first', async () => {
    const { backend, user } = openSettings({ handlers: { set_office_hours: echo } });
    const section = await hoursSection();
    expect(within(section).getByRole('heading', { name: 'Horaires de réponse' })).toBeInTheDocument();
    expect(backend.callsOf('get_office_hours')).toEqual([{}]);
    // What the patients see and get, said plainly.
    expect(within(section).getByTestId('office-hours-note')).toHaveTextContent(
      'Vos patients voient ces horaires ; un patient qui écrit en dehors reçoit aussitôt une réponse automatique indiquant quand vous lirez son message.',
    );
    expect(within(section).getByTestId('office-hours-none')).toBeInTheDocument();
    // Nothing saved: nothing to delete.
    expect(within(section).queryByRole('button', { name: 'Supprimer les horaires' })).not.toBeInTheDocument();

    // The week, Monday to Sunday, empty; the device's time zone by default.
    const days = ['Lundi', 'Mardi', 'Mercredi', 'Jeudi', 'Vendredi', 'Samedi', 'Dimanche'];
    expect(within(section).getAllByRole('group')).toEqual(days.map((name) => day(section, name)));
    expect(within(section).getAllByText('Pas de plage')).toHaveLength(7);
    const zone = within(section).getByLabelText('Fuseau horaire') as HTMLSelectElement;
    expect(zone.value).toBe('Europe/Paris');
    expect(within(zone).getByRole('option', { name: 'Martinique (America/Martinique)' })).toBeInTheDocument();

    // Thursday first, then Monday's afternoon before its morning: sent in order all the same.
    await addRange(user, day(section, 'Jeudi'), '14:00', '18:00');
    await addRange(user, day(section, 'Lundi'), '14:00', '18:00');
    await addRange(user, day(section, 'Lundi'), '09:00', '12:00');
    expect(time(day(section, 'Lundi'), 'Début de la plage 2').value).toBe('09:00');
    await user.selectOptions(zone, 'America/Martinique');
    await user.click(save(section));

    await waitFor(() =>
      expect(backend.callsOf('set_office_hours')).toEqual([
        {
          hours: {
            timeZone: 'America/Martinique',
            slots: [
              { day: 'monday', start: '09:00', end: '12:00' },
              { day: 'monday', start: '14:00', end: '18:00' },
              { day: 'thursday', start: '14:00', end: '18:00' },
            ],
          },
        },
      ]),
    );
    expect(await within(section).findByRole('status')).toHaveTextContent('Horaires enregistrés : vos patients les voient.');
    // Shown as saved (Monday by start), and now deletable.
    expect(time(day(section, 'Lundi'), 'Début de la plage 1').value).toBe('09:00');
    expect(time(day(section, 'Lundi'), 'Fin de la plage 2').value).toBe('18:00');
    expect(within(section).getByRole('button', { name: 'Supprimer les horaires' })).toBeEnabled();
    expect(within(section).queryByTestId('office-hours-none')).not.toBeInTheDocument();
  });

  it('shows the hours saved, and changes them: a range removed, midnight kept as "24:00"', async () => {
    const saved: OfficeHours = {
      timeZone: 'Indian/Reunion',
      slots: [
        { day: 'friday', start: '20:00', end: '24:00' },
        { day: 'monday', start: '14:00', end: '18:00' },
        { day: 'monday', start: '08:30', end: '12:00' },
      ],
    };
    const { backend, user } = openSettings({ handlers: { get_office_hours: { value: saved }, set_office_hours: echo } });
    const section = await hoursSection();
    expect((within(section).getByLabelText('Fuseau horaire') as HTMLSelectElement).value).toBe('Indian/Reunion');
    const monday = day(section, 'Lundi');
    expect(time(monday, 'Début de la plage 1').value).toBe('08:30');
    expect(time(monday, 'Fin de la plage 1').value).toBe('12:00');
    expect(time(monday, 'Début de la plage 2').value).toBe('14:00');
    // A time input cannot hold 24:00: midnight is 00:00 as an end, and the form says so.
    const friday = day(section, 'Vendredi');
    expect(time(friday, 'Fin de la plage 1').value).toBe('00:00');
    expect(time(friday, 'Fin de la plage 1')).toHaveAccessibleDescription(fr('officeHours.midnightHint'));
    expect(within(day(section, 'Mardi')).getByText('Pas de plage')).toBeInTheDocument();

    await user.click(within(monday).getByRole('button', { name: 'Retirer la plage 1' }));
    expect(within(monday).getAllByTestId('office-hours-range')).toHaveLength(1);
    // The focus stays in the day.
    expect(within(monday).getByRole('button', { name: 'Ajouter une plage' })).toHaveFocus();
    await user.click(save(section));
    await waitFor(() =>
      expect(backend.callsOf('set_office_hours')).toEqual([
        {
          hours: {
            timeZone: 'Indian/Reunion',
            slots: [
              { day: 'monday', start: '14:00', end: '18:00' },
              { day: 'friday', start: '20:00', end: '24:00' },
            ],
          },
        },
      ]),
    );
  });

  describe('are checked before they are sent', () => {
    it('wants the end after the start', async () => {
      const { backend, user } = openSettings();
      const section = await hoursSection();
      await addRange(user, day(section, 'Mardi'), '12:00', '09:00');
      await user.click(save(section));
      const error = within(day(section, 'Mardi')).getByTestId('office-hours-range-error');
      expect(error).toHaveTextContent('La fin doit être après le début.');
      const start = time(day(section, 'Mardi'), 'Début de la plage 1');
      expect(start).toHaveAttribute('aria-invalid', 'true');
      expect(start).toHaveAccessibleDescription('La fin doit être après le début.');
      expect(start).toHaveFocus();
      expect(backend.callsOf('set_office_hours')).toEqual([]);
      // Corrected, the error goes as it is typed.
      await user.clear(time(day(section, 'Mardi'), 'Fin de la plage 1'));
      await user.type(time(day(section, 'Mardi'), 'Fin de la plage 1'), '13:00');
      expect(within(section).queryByTestId('office-hours-range-error')).not.toBeInTheDocument();
    });

    it('refuses ranges of one day that overlap, not ones that touch', async () => {
      const { backend, user } = openSettings({ handlers: { set_office_hours: echo } });
      const section = await hoursSection();
      const wednesday = day(section, 'Mercredi');
      await addRange(user, wednesday, '09:00', '12:00');
      await addRange(user, wednesday, '11:30', '13:00');
      // The same times another day are fine.
      await addRange(user, day(section, 'Jeudi'), '11:30', '13:00');
      await user.click(save(section));
      const errors = within(section).getAllByTestId('office-hours-range-error');
      expect(errors).toHaveLength(1);
      expect(errors[0]).toHaveTextContent('Cette plage chevauche une autre plage du même jour.');
      expect(time(wednesday, 'Début de la plage 2')).toHaveAttribute('aria-invalid', 'true');
      expect(time(wednesday, 'Début de la plage 1')).not.toHaveAttribute('aria-invalid');
      expect(backend.callsOf('set_office_hours')).toEqual([]);

      // 12:00–13:00 starts when the morning ends: accepted.
      await user.clear(time(wednesday, 'Début de la plage 2'));
      await user.type(time(wednesday, 'Début de la plage 2'), '12:00');
      await user.click(save(section));
      await waitFor(() => expect(backend.callsOf('set_office_hours')).toHaveLength(1));
      expect(backend.callsOf('set_office_hours')[0]).toEqual({
        hours: {
          timeZone: 'Europe/Paris',
          slots: [
            { day: 'wednesday', start: '09:00', end: '12:00' },
            { day: 'wednesday', start: '12:00', end: '13:00' },
            { day: 'thursday', start: '11:30', end: '13:00' },
          ],
        },
      });
    });

    it('asks for both times of a range', async () => {
      const { backend, user } = openSettings();
      const section = await hoursSection();
      await user.click(within(day(section, 'Samedi')).getByRole('button', { name: 'Ajouter une plage' }));
      await user.type(time(day(section, 'Samedi'), 'Début de la plage 1'), '09:00');
      await user.click(save(section));
      expect(within(day(section, 'Samedi')).getByTestId('office-hours-range-error')).toHaveTextContent(
        'Indiquez le début et la fin de la plage.',
      );
      expect(backend.callsOf('set_office_hours')).toEqual([]);
    });

    it('asks for at least one range', async () => {
      const { backend, user } = openSettings();
      const section = await hoursSection();
      await user.click(save(section));
      expect(within(section).getByTestId('office-hours-form-error')).toHaveTextContent(
        'Ajoutez au moins une plage, ou supprimez vos horaires.',
      );
      expect(backend.callsOf('set_office_hours')).toEqual([]);
      // Adding one clears the message.
      await user.click(within(day(section, 'Lundi')).getByRole('button', { name: 'Ajouter une plage' }));
      expect(within(section).queryByTestId('office-hours-form-error')).not.toBeInTheDocument();
    });

    it('matches the server’s rules', () => {
      const draft = (timeZone: string, ranges: [string, string][]): OfficeHoursDraft => {
        const d = emptyOfficeHoursDraft(timeZone);
        d.days.monday = ranges.map(([start, end], i) => ({ key: `k${i}`, start, end }));
        return d;
      };
      expect(validateOfficeHours(draft('Europe/Paris', [['09:00', '12:00'], ['20:00', '00:00']]))).toEqual({
        hours: {
          timeZone: 'Europe/Paris',
          slots: [
            { day: 'monday', start: '09:00', end: '12:00' },
            { day: 'monday', start: '20:00', end: '24:00' },
          ],
        },
      });
      // Seconds a browser might add are dropped.
      expect(validateOfficeHours(draft('Europe/Paris', [['09:00:00', '12:00:00']]))).toEqual({
        hours: { timeZone: 'Europe/Paris', slots: [{ day: 'monday', start: '09:00', end: '12:00' }] },
      });
      expect(validateOfficeHours(draft('Europe/Paris', [['10:00', '10:00']]))).toEqual({
        errors: { ranges: { k0: 'officeHours.error.endBeforeStart' }, form: null },
      });
      // A range inside another overlaps it too.
      expect(validateOfficeHours(draft('Europe/Paris', [['08:00', '18:00'], ['12:00', '13:00'], ['17:00', '19:00']]))).toEqual({
        errors: { ranges: { k1: 'officeHours.error.overlap', k2: 'officeHours.error.overlap' }, form: null },
      });
      expect(validateOfficeHours(draft('', [['09:00', '12:00']]))).toEqual({ errors: { ranges: {}, form: 'officeHours.error.timeZone' } });
      const tooMany = emptyOfficeHoursDraft('Europe/Paris');
      for (const d of ['monday', 'tuesday', 'wednesday', 'thursday', 'friday', 'saturday'] as const) {
        tooMany.days[d] = Array.from({ length: 5 }, (_, i) => ({ key: `${d}${i}`, start: `0${i}:00`, end: `0${i}:30` }));
      }
      expect(validateOfficeHours(tooMany)).toEqual({ errors: { ranges: {}, form: 'officeHours.error.tooMany' } });
      tooMany.days.saturday = tooMany.days.saturday.slice(0, 3);
      expect(validateOfficeHours(tooMany)).toHaveProperty('hours');
    });
  });

  it('explains the server’s refusal by its code, and keeps the form as typed', async () => {
    const { user } = openSettings({
      handlers: {
        set_office_hours: () => {
          throw commandError('VALIDATION_FAILED');
        },
      },
    });
    const section = await hoursSection();
    await addRange(user, day(section, 'Lundi'), '09:00', '12:00');
    await user.click(save(section));
    expect(await within(section).findByRole('alert')).toHaveTextContent(
      'Horaires non enregistrés. Le serveur a refusé ces horaires : fuseau horaire inconnu, plage qui se termine avant de commencer, plages d’un même jour qui se chevauchent, ou plus de 28 plages.',
    );
    expect(within(section).getByRole('alert')).not.toHaveTextContent('message interne');
    expect(time(day(section, 'Lundi'), 'Début de la plage 1').value).toBe('09:00');
  });

  it('say when they cannot be read, and are read again on demand', async () => {
    let reads = 0;
    const { user } = openSettings({
      handlers: {
        get_office_hours: () => {
          reads += 1;
          if (reads === 1) throw commandError('NETWORK_UNAVAILABLE');
          return null;
        },
      },
    });
    const section = await hoursSection();
    expect(within(section).getByRole('alert')).toHaveTextContent(
      'Impossible de lire vos horaires. Serveur injoignable : réessayez dès le retour de la connexion.',
    );
    await user.click(within(section).getByRole('button', { name: 'Réessayer' }));
    expect(await within(section).findByRole('button', { name: 'Enregistrer les horaires' })).toBeInTheDocument();
  });

  it('are deleted after a confirmation', async () => {
    const saved: OfficeHours = { timeZone: 'Europe/Paris', slots: [{ day: 'tuesday', start: '09:00', end: '12:00' }] };
    const { backend, user } = openSettings({ handlers: { get_office_hours: { value: saved }, clear_office_hours: { value: null } } });
    const section = await hoursSection();

    // Cancelled: nothing happens.
    await user.click(within(section).getByRole('button', { name: 'Supprimer les horaires' }));
    let confirm = screen.getByRole('alertdialog', { name: 'Supprimer vos horaires ?' });
    expect(confirm).toHaveAccessibleDescription(fr('officeHours.confirmClear.description'));
    expect(within(confirm).getByRole('button', { name: 'Annuler' })).toHaveFocus();
    await user.click(within(confirm).getByRole('button', { name: 'Annuler' }));
    expect(screen.queryByRole('alertdialog')).not.toBeInTheDocument();
    expect(backend.callsOf('clear_office_hours')).toEqual([]);

    await user.click(within(section).getByRole('button', { name: 'Supprimer les horaires' }));
    confirm = screen.getByRole('alertdialog', { name: 'Supprimer vos horaires ?' });
    await user.click(within(confirm).getByRole('button', { name: 'Supprimer' }));
    await waitFor(() => expect(backend.callsOf('clear_office_hours')).toEqual([{}]));
    expect(await within(section).findByRole('status')).toHaveTextContent('Horaires supprimés.');
    expect(within(section).queryAllByTestId('office-hours-range')).toHaveLength(0);
    expect(within(section).getByTestId('office-hours-none')).toBeInTheDocument();
    expect(within(section).queryByRole('button', { name: 'Supprimer les horaires' })).not.toBeInTheDocument();
  });

  it('says why they could not be deleted', async () => {
    const saved: OfficeHours = { timeZone: 'Europe/Paris', slots: [{ day: 'tuesday', start: '09:00', end: '12:00' }] };
    const { user } = openSettings({
      handlers: {
        get_office_hours: { value: saved },
        clear_office_hours: () => {
          throw commandError('OFFLINE_READ_ONLY');
        },
      },
    });
    const section = await hoursSection();
    await user.click(within(section).getByRole('button', { name: 'Supprimer les horaires' }));
    await user.click(within(screen.getByRole('alertdialog')).getByRole('button', { name: 'Supprimer' }));
    expect(await within(section).findByRole('alert')).toHaveTextContent(
      `Les horaires n’ont pas pu être supprimés. ${fr('error.offlineReadOnly')}`,
    );
    expect(within(section).getAllByTestId('office-hours-range')).toHaveLength(1);
  });

  it('speaks English', async () => {
    openSettings({ language: 'en' });
    const section = await hoursSection();
    expect(within(section).getByRole('heading', { name: 'Office hours' })).toBeInTheDocument();
    expect(within(section).getByTestId('office-hours-note')).toHaveTextContent(
      'Your patients see these hours; a patient who writes outside them gets an automatic answer at once, saying when you will read their message.',
    );
    expect(within(section).getByRole('group', { name: 'Monday' })).toBeInTheDocument();
    expect(within(section).getByRole('group', { name: 'Sunday' })).toBeInTheDocument();
    expect(within(section).getByLabelText('Time zone')).toBeInTheDocument();
    expect(within(section).getAllByRole('button', { name: 'Add hours' })).toHaveLength(7);
    expect(within(section).getByRole('button', { name: 'Save office hours' })).toBeInTheDocument();
  });

  it('are not offered to a patient', async () => {
    const { backend } = openSettings({ me: patientUser });
    expect(screen.getByRole('dialog', { name: 'Paramètres' })).toBeInTheDocument();
    expect(screen.queryByTestId('office-hours-section')).not.toBeInTheDocument();
    expect(screen.queryByRole('heading', { name: 'Horaires de réponse' })).not.toBeInTheDocument();
    expect(backend.callsOf('get_office_hours')).toEqual([]);
  });
});

describe('office hours, as the patient reads them', () => {
  const hours: OfficeHours = {
    timeZone: 'Europe/Paris',
    slots: [
      { day: 'thursday', start: '14:00', end: '18:00' },
      { day: 'monday', start: '14:00', end: '18:00' },
      { day: 'monday', start: '09:00', end: '12:00' },
      { day: 'sunday', start: '20:00', end: '24:00' },
    ],
  };

  it('group the ranges by day, Monday first, each day by start', () => {
    expect(slotsByDay(hours.slots)).toEqual([
      { day: 'monday', ranges: [{ start: '09:00', end: '12:00' }, { start: '14:00', end: '18:00' }] },
      { day: 'thursday', ranges: [{ start: '14:00', end: '18:00' }] },
      { day: 'sunday', ranges: [{ start: '20:00', end: '24:00' }] },
    ]);
    expect(officeHoursSummary(hours, (key, params) => translate('fr', key, params))).toBe(
      'lun. 9:00–12:00, 14:00–18:00 · jeu. 14:00–18:00 · dim. 20:00–24:00',
    );
    expect(officeHoursSummary(hours, (key, params) => translate('en', key, params))).toBe(
      'Mon 9:00–12:00, 14:00–18:00 · Thu 14:00–18:00 · Sun 20:00–24:00',
    );
  });

  it('name the zone by its city, and offer the device’s zone and the saved one', () => {
    expect(zoneCity('Europe/Paris')).toBe('Paris');
    expect(zoneCity('America/Argentina/Buenos_Aires')).toBe('Buenos Aires');
    expect(zoneCity('UTC')).toBe('UTC');
    expect(timeZoneChoices('Europe/Paris', 'Europe/Paris')).toContain('Pacific/Noumea');
    expect(timeZoneChoices('Asia/Tokyo', 'America/New_York').slice(0, 3)).toEqual(['Asia/Tokyo', 'America/New_York', 'Europe/Paris']);
    expect(timeZoneChoices('Europe/Paris', 'Europe/Paris').filter((z) => z === 'Europe/Paris')).toHaveLength(1);
    expect(emptyOfficeHoursDraft().timeZone).toBe(Intl.DateTimeFormat().resolvedOptions().timeZone);
    expect(draftOfOfficeHours(hours).days.sunday.map(({ start, end }) => [start, end])).toEqual([['20:00', '00:00']]);
  });
});
