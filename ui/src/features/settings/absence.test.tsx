/**
 * The doctor's absence in the settings (docs/messaging.md, "Absence"): reading it with
 * `get_absence`, setting it with `set_absence` (local times sent as RFC 3339), the checks
 * the server makes repeated in the form, the server's refusal, ending it with
 * `clear_absence`; and no such section for a patient.
 */
import { render, screen, waitFor, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { beforeEach, describe, expect, it, vi } from 'vitest';
import type { Absence, Language, User } from '../../api';
import { App } from '../../app/App';
import { translate } from '../../i18n';
import { commandError, mockBackend, type Handlers } from '../../test/ipc';
import { doctorUser, historyPage, inbox, ordonnance, patientUser, signedIn } from '../../test/fixtures';
import { renderWithProviders } from '../../test/render';
import { SettingsPanel } from './SettingsPanel';
import { emptyDraft, validateAbsence } from './absence';

const fr = (key: Parameters<typeof translate>[1], params?: Parameters<typeof translate>[2]) => translate('fr', key, params);

// "Now" for every test: Friday 14 March 2025, 10:00 in Paris (09:00 UTC).
const NOW = new Date('2025-03-14T09:00:00Z');

beforeEach(() => {
  // Only the clock is fixed: timers stay real for user-event and waitFor.
  vi.useFakeTimers({ toFake: ['Date'] });
  vi.setSystemTime(NOW);
});

type Setup = { me?: User; handlers?: Handlers; language?: Language };

async function openSettings({ me = doctorUser, handlers = {}, language = 'fr' }: Setup = {}) {
  const backend = mockBackend({ get_settings: { value: { language, notificationPreview: true } }, ...handlers });
  const user = userEvent.setup();
  const onClose = vi.fn();
  renderWithProviders(<SettingsPanel user={me} peers={[]} onClose={onClose} />, { language });
  return { backend, user, onClose };
}

/** The absence section, once `get_absence` has answered. */
async function absenceSection() {
  const section = await screen.findByTestId('absence-section');
  await waitFor(() => expect(section).not.toHaveTextContent(fr('common.loading')));
  return section;
}

const field = (section: HTMLElement, label: string) => within(section).getByLabelText(label) as HTMLInputElement;

describe('the doctor’s absence', () => {
  it('is set from the settings: local times sent as ISO timestamps, the note, then shown with an end button', async () => {
    const { backend, user } = await openSettings({ handlers: { set_absence: (args) => (args as { absence: Absence }).absence } });
    const section = await absenceSection();
    expect(within(section).getByRole('heading', { name: 'Absence' })).toBeInTheDocument();
    expect(backend.callsOf('get_absence')).toEqual([{}]);

    // The start is now by default (local time); the end is to fill in.
    expect(field(section, 'Du').value).toBe('2025-03-14T10:00');
    expect(field(section, 'Au').value).toBe('');
    expect(field(section, 'Du')).toHaveAttribute('type', 'datetime-local');
    expect(field(section, 'Au')).toHaveAttribute('type', 'datetime-local');

    // The note is public: the form says so, next to it.
    const note = within(section).getByLabelText('Mot pour vos patients (facultatif)');
    expect(note).toHaveAccessibleDescription(expect.stringContaining(fr('absence.privacy')));
    expect(within(section).getByTestId('absence-privacy')).toHaveTextContent(
      "Ce mot est visible en clair par tous vos patients : n'y mettez aucune donnée de santé.",
    );

    await user.type(field(section, 'Au'), '2025-03-21T18:30');
    await user.type(note, 'Le Dr Karim Benali me remplace.');
    expect(within(section).getByTestId('absence-counter')).toHaveTextContent('31 / 300');
    await user.click(within(section).getByRole('button', { name: "Enregistrer l'absence" }));

    await waitFor(() =>
      expect(backend.callsOf('set_absence')).toEqual([
        {
          absence: {
            // Paris is UTC+1 in March: 10:00 and 18:30 local time.
            from: '2025-03-14T09:00:00.000Z',
            until: '2025-03-21T17:30:00.000Z',
            note: 'Le Dr Karim Benali me remplace.',
          },
        },
      ]),
    );
    const current = await within(section).findByTestId('absence-current');
    expect(current).toHaveTextContent('Absent(e) du 14 mars 2025 à 10:00 au 21 mars 2025 à 18:30');
    expect(within(current).getByTestId('absence-current-note')).toHaveTextContent('Le Dr Karim Benali me remplace.');
    expect(within(section).getByRole('status')).toHaveTextContent(fr('absence.saved'));
    expect(within(current).getByRole('button', { name: "Terminer l'absence" })).toBeEnabled();
  });

  it('sends no note when it is left empty', async () => {
    const { backend, user } = await openSettings({ handlers: { set_absence: (args) => (args as { absence: Absence }).absence } });
    const section = await absenceSection();
    await user.clear(field(section, 'Du'));
    await user.type(field(section, 'Du'), '2025-03-17T08:00');
    await user.type(field(section, 'Au'), '2025-03-17T18:00');
    await user.click(within(section).getByRole('button', { name: "Enregistrer l'absence" }));
    await waitFor(() =>
      expect(backend.callsOf('set_absence')).toEqual([
        { absence: { from: '2025-03-17T07:00:00.000Z', until: '2025-03-17T17:00:00.000Z', note: null } },
      ]),
    );
    // Not begun yet: it is planned.
    expect(await within(section).findByTestId('absence-current')).toHaveTextContent(
      'Absence prévue du 17 mars 2025 à 08:00 au 17 mars 2025 à 18:00',
    );
  });

  it('shows the absence set, and ends it', async () => {
    const absence: Absence = { from: '2025-03-10T08:00:00Z', until: '2025-03-20T17:00:00Z', note: 'Cabinet fermé, appelez le 01 23 45 67 89.' };
    const { backend, user } = await openSettings({ handlers: { get_absence: { value: absence }, clear_absence: { value: null } } });
    const section = await absenceSection();
    const current = within(section).getByTestId('absence-current');
    expect(current).toHaveTextContent('Absent(e) du 10 mars 2025 à 09:00 au 20 mars 2025 à 18:00');
    expect(current).toHaveTextContent('Cabinet fermé, appelez le 01 23 45 67 89.');
    expect(within(section).queryByRole('button', { name: "Enregistrer l'absence" })).not.toBeInTheDocument();

    await user.click(within(current).getByRole('button', { name: "Terminer l'absence" }));
    await waitFor(() => expect(backend.callsOf('clear_absence')).toEqual([{}]));
    expect(await within(section).findByRole('button', { name: "Enregistrer l'absence" })).toBeInTheDocument();
    expect(within(section).queryByTestId('absence-current')).not.toBeInTheDocument();
    expect(within(section).getByRole('status')).toHaveTextContent('Absence terminée.');
  });

  it('is changed from the absence set: the form opens with its values', async () => {
    const absence: Absence = { from: '2025-03-10T08:00:00Z', until: '2025-03-20T17:00:00Z', note: 'Retour le 20.' };
    const { backend, user } = await openSettings({
      handlers: { get_absence: { value: absence }, set_absence: (args) => (args as { absence: Absence }).absence },
    });
    const section = await absenceSection();
    await user.click(within(section).getByRole('button', { name: 'Modifier' }));
    expect(field(section, 'Du').value).toBe('2025-03-10T09:00');
    expect(field(section, 'Au').value).toBe('2025-03-20T18:00');
    expect(within(section).getByLabelText('Mot pour vos patients (facultatif)')).toHaveValue('Retour le 20.');
    await user.clear(field(section, 'Au'));
    await user.type(field(section, 'Au'), '2025-03-24T18:00');
    await user.click(within(section).getByRole('button', { name: "Enregistrer l'absence" }));
    await waitFor(() =>
      expect(backend.callsOf('set_absence')).toEqual([
        { absence: { from: '2025-03-10T08:00:00.000Z', until: '2025-03-24T17:00:00.000Z', note: 'Retour le 20.' } },
      ]),
    );
  });

  it('an absence that has ended counts as none', async () => {
    await openSettings({ handlers: { get_absence: { value: { from: '2025-03-01T08:00:00Z', until: '2025-03-10T17:00:00Z' } } } });
    const section = await absenceSection();
    expect(within(section).queryByTestId('absence-current')).not.toBeInTheDocument();
    expect(within(section).getByRole('button', { name: "Enregistrer l'absence" })).toBeInTheDocument();
  });

  describe('is checked before it is sent', () => {
    async function submitWith({ from, until, note }: { from?: string; until?: string; note?: string }) {
      const setup = await openSettings();
      const section = await absenceSection();
      if (from !== undefined) {
        await setup.user.clear(field(section, 'Du'));
        if (from) await setup.user.type(field(section, 'Du'), from);
      }
      if (until) await setup.user.type(field(section, 'Au'), until);
      if (note) {
        await setup.user.click(within(section).getByLabelText('Mot pour vos patients (facultatif)'));
        await setup.user.paste(note);
      }
      await setup.user.click(within(section).getByRole('button', { name: "Enregistrer l'absence" }));
      return { ...setup, section };
    }

    it('asks for the end', async () => {
      const { backend, section } = await submitWith({});
      const until = field(section, 'Au');
      expect(within(section).getByTestId('absence-error-until')).toHaveTextContent("Indiquez la fin de l'absence.");
      expect(until).toHaveAttribute('aria-invalid', 'true');
      expect(until).toHaveAccessibleDescription("Indiquez la fin de l'absence.");
      expect(until).toHaveFocus();
      expect(backend.callsOf('set_absence')).toEqual([]);
    });

    it('asks for the start', async () => {
      const { backend, section } = await submitWith({ from: '', until: '2025-03-21T18:00' });
      expect(within(section).getByTestId('absence-error-from')).toHaveTextContent("Indiquez le début de l'absence.");
      expect(backend.callsOf('set_absence')).toEqual([]);
    });

    it('wants the end after the start', async () => {
      const { backend, section } = await submitWith({ from: '2025-03-20T10:00', until: '2025-03-18T10:00' });
      expect(within(section).getByTestId('absence-error-until')).toHaveTextContent('La fin doit être après le début.');
      expect(backend.callsOf('set_absence')).toEqual([]);
    });

    it('wants the end in the future', async () => {
      const { backend, section } = await submitWith({ from: '2025-03-01T10:00', until: '2025-03-14T09:00' });
      expect(within(section).getByTestId('absence-error-until')).toHaveTextContent('La fin doit être dans le futur.');
      expect(backend.callsOf('set_absence')).toEqual([]);
    });

    it('allows 366 days at most', async () => {
      const { backend, section } = await submitWith({ from: '2025-03-14T10:00', until: '2026-03-16T10:00' });
      expect(within(section).getByTestId('absence-error-until')).toHaveTextContent('Une absence dure au plus 366 jours.');
      expect(backend.callsOf('set_absence')).toEqual([]);
    });

    it('allows a note of 300 characters at most, with a live counter', async () => {
      const { backend, section, user } = await submitWith({ until: '2025-03-21T18:00', note: 'a'.repeat(301) });
      expect(within(section).getByTestId('absence-counter')).toHaveTextContent('301 / 300');
      expect(within(section).getByTestId('absence-error-note')).toHaveTextContent('Le mot ne doit pas dépasser 300 caractères.');
      const note = within(section).getByLabelText('Mot pour vos patients (facultatif)');
      expect(note).toHaveAttribute('aria-invalid', 'true');
      expect(backend.callsOf('set_absence')).toEqual([]);
      // One character less and it goes.
      await user.type(note, '{Backspace}');
      expect(within(section).getByTestId('absence-counter')).toHaveTextContent('300 / 300');
      expect(within(section).queryByTestId('absence-error-note')).not.toBeInTheDocument();
    });

    it('matches the server’s rules', () => {
      const now = new Date('2025-03-14T09:00:00Z');
      const ok = validateAbsence({ from: '2025-03-14T10:00', until: '2026-03-15T10:00', note: ' é'.repeat(150) }, now);
      expect(ok).toEqual({
        absence: { from: '2025-03-14T09:00:00.000Z', until: '2026-03-15T09:00:00.000Z', note: 'é '.repeat(149) + 'é' },
      });
      // Characters, as the server counts: an emoji is one.
      expect(validateAbsence({ from: '2025-03-14T10:00', until: '2025-03-15T10:00', note: '🙂'.repeat(300) }, now)).toHaveProperty('absence');
      expect(validateAbsence({ from: '2025-03-14T10:00', until: '2025-03-15T10:00', note: '🙂'.repeat(301) }, now)).toEqual({
        errors: { note: 'absence.error.noteTooLong' },
      });
      expect(validateAbsence({ from: '2025-03-14T10:00', until: '2026-03-15T10:01', note: '' }, now)).toEqual({
        errors: { until: 'absence.error.tooLong' },
      });
      expect(emptyDraft(now)).toEqual({ from: '2025-03-14T10:00', until: '', note: '' });
    });
  });

  it('explains the server’s refusal by its code', async () => {
    const { user } = await openSettings({
      handlers: {
        set_absence: () => {
          throw commandError('VALIDATION_FAILED');
        },
      },
    });
    const section = await absenceSection();
    await user.type(field(section, 'Au'), '2025-03-21T18:00');
    await user.click(within(section).getByRole('button', { name: "Enregistrer l'absence" }));
    expect(await within(section).findByRole('alert')).toHaveTextContent(
      `Absence non enregistrée. ${fr('error.validation')}`,
    );
    // The form stays as typed, to correct it.
    expect(field(section, 'Au').value).toBe('2025-03-21T18:00');
  });

  it('speaks English', async () => {
    await openSettings({ language: 'en' });
    const section = await absenceSection();
    expect(within(section).getByLabelText('From')).toBeInTheDocument();
    expect(within(section).getByLabelText('Until')).toBeInTheDocument();
    expect(within(section).getByLabelText('Note to your patients (optional)')).toBeInTheDocument();
    expect(within(section).getByText('This note is shown in clear to all your patients: put no health data in it.')).toBeInTheDocument();
    expect(within(section).getByRole('button', { name: 'Save absence' })).toBeInTheDocument();
  });

  it('is not offered to a patient', async () => {
    const { backend } = await openSettings({ me: patientUser });
    expect(screen.getByRole('dialog', { name: 'Paramètres' })).toBeInTheDocument();
    expect(screen.queryByTestId('absence-section')).not.toBeInTheDocument();
    expect(screen.queryByRole('heading', { name: 'Absence' })).not.toBeInTheDocument();
    expect(backend.callsOf('get_absence')).toEqual([]);
  });

  it('is reached from the doctor’s settings button', async () => {
    const backend = mockBackend({
      resume_session: { value: signedIn(doctorUser) },
      list_contexts: { value: inbox([ordonnance]) },
      load_history: { value: historyPage([]) },
    });
    const user = userEvent.setup();
    render(<App />);
    await user.click(await screen.findByRole('button', { name: 'Ouvrir les paramètres' }));
    const dialog = screen.getByRole('dialog', { name: 'Paramètres' });
    expect(await within(dialog).findByRole('button', { name: "Enregistrer l'absence" })).toBeInTheDocument();
    expect(backend.callsOf('get_absence')).toEqual([{}]);
  });
});
