/**
 * The patient's access log (docs/messaging.md, "The patient's access log"): the header
 * button of the record's patient, the dialog that loads `access_log` when it opens, the
 * plain-language lines (grouped reads, "Vous", the administrator's account actions), its
 * empty, truncated, loading and error states, and the keyboard.
 */
import { screen, waitFor, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { describe, expect, it, vi } from 'vitest';
import type { AccessLogEntry, AccessLogResponse, Language, Participant, User } from '../../api';
import { translate } from '../../i18n';
import { commandError, deferred, emitEvent, mockBackend, type Handlers } from '../../test/ipc';
import { doctor, doctorUser, historyPage, ordonnance, patient, patientUser } from '../../test/fixtures';
import { renderWithProviders } from '../../test/render';
import { SecureMessaging } from './SecureMessaging';
import { groupReads, READ_GROUP_MS } from './AccessLog';

const fr = (key: Parameters<typeof translate>[1], params?: Parameters<typeof translate>[2]) => translate('fr', key, params);

const admin: Participant = { id: 'admin', type: 'admin', name: 'Administrateur DMP' };

function entry(who: Participant, action: AccessLogEntry['action'], at: string, detail?: string): AccessLogEntry {
  return detail === undefined ? { at, who, action } : { at, who, action, detail };
}

/** Newest first, as the server sends it. */
const LOG: AccessLogResponse = {
  entries: [
    entry(doctor, 'read', '2025-03-14T09:20:00Z'),
    entry(doctor, 'read', '2025-03-14T09:17:00Z'),
    entry(doctor, 'read', '2025-03-14T09:14:30Z'),
    entry(doctor, 'download', '2025-03-14T09:10:00Z'),
    entry(doctor, 'read', '2025-03-14T09:09:00Z'),
    entry(patient, 'read', '2025-03-14T09:05:00Z'),
    entry(patient, 'export', '2025-03-14T09:04:00Z'),
    entry(doctor, 'close', '2025-03-13T16:00:00Z'),
    entry(admin, 'account', '2025-03-12T08:00:00Z', 'user_disable'),
  ],
  truncated: false,
};

type Setup = { me?: User; handlers?: Handlers; language?: Language };

async function openConversation({ me = patientUser, handlers = {}, language = 'fr' }: Setup = {}) {
  const backend = mockBackend({
    load_history: { value: historyPage([]) },
    get_settings: { value: { language, notificationPreview: true } },
    access_log: { value: LOG },
    ...handlers,
  });
  const onClose = vi.fn();
  const user = userEvent.setup();
  renderWithProviders(<SecureMessaging context={ordonnance} me={me} onClose={onClose} />, { language });
  await waitFor(() => expect(screen.queryByText(translate(language, 'messages.loading'))).not.toBeInTheDocument());
  return { backend, onClose, user };
}

const logButton = () => screen.queryByRole('button', { name: fr('accessLog.button') });
const logDialog = () => screen.queryByRole('dialog', { name: fr('accessLog.title') });

/** Each line as [who and what, when]. */
async function lines(): Promise<[string, string][]> {
  const items = await screen.findAllByTestId('access-log-entry');
  return items.map((li) => [li.querySelector('p')!.textContent ?? '', li.querySelector('time')!.textContent ?? '']);
}

describe('the access log', () => {
  it('is opened by the patient and loads the conversation’s log, told in plain language', async () => {
    const { backend, user } = await openConversation();
    // Nothing is fetched before the dialog opens.
    expect(backend.callsOf('access_log')).toHaveLength(0);
    const button = logButton()!;
    expect(button).toHaveAttribute('aria-haspopup', 'dialog');
    expect(button).toBeEnabled();
    await user.click(button);

    const dialog = logDialog()!;
    expect(dialog).toHaveAccessibleDescription(fr('accessLog.intro'));
    expect(dialog).toHaveTextContent(
      "Qui a accédé à cette conversation, et ce que l'administrateur a fait sur votre compte. Le contenu de vos messages n'est jamais visible par l'administrateur.",
    );
    expect(await lines()).toEqual([
      ['Dr Sophie Martin (Médecin) a consulté la conversation (3 fois)', '14 mars 2025 à 10:20'],
      ['Dr Sophie Martin (Médecin) a téléchargé une pièce jointe', '14 mars 2025 à 10:10'],
      ['Dr Sophie Martin (Médecin) a consulté la conversation', '14 mars 2025 à 10:09'],
      ['Vous avez consulté la conversation', '14 mars 2025 à 10:05'],
      ['Vous avez exporté la conversation', '14 mars 2025 à 10:04'],
      ['Dr Sophie Martin (Médecin) a clôturé la conversation', '13 mars 2025 à 17:00'],
      ['Administrateur DMP (Administrateur) a désactivé votre compte', '12 mars 2025 à 09:00'],
    ]);
    // The machine-readable time is the server's, the shown one is local.
    expect(within(dialog).getAllByTestId('access-log-entry')[0]!.querySelector('time')).toHaveAttribute('dateTime', '2025-03-14T09:20:00Z');
    expect(backend.callsOf('access_log')).toEqual([{ contextType: 'ordonnance', contextId: 'ord_789' }]);
    expect(screen.queryByTestId('access-log-empty')).not.toBeInTheDocument();
    expect(screen.queryByTestId('access-log-truncated')).not.toBeInTheDocument();
  });

  it('names every action and every administrator account action, in French and English', async () => {
    const other: Participant = { id: 'patient_999', type: 'patient', name: 'Lucas Petit' };
    const log: AccessLogResponse = {
      entries: [
        entry(doctor, 'export', '2025-03-14T12:00:00Z'),
        entry(doctor, 'reopen', '2025-03-14T11:00:00Z'),
        entry(doctor, 'archive', '2025-03-14T10:00:00Z'),
        entry(other, 'read', '2025-03-14T09:30:00Z'),
        entry(admin, 'account', '2025-03-14T09:00:00Z', 'user_enable'),
        entry(admin, 'account', '2025-03-14T08:00:00Z', 'user_passwd'),
        entry(admin, 'account', '2025-03-14T07:00:00Z', 'import'),
        entry(admin, 'account', '2025-03-14T06:00:00Z', 'something_new'),
        entry(admin, 'account', '2025-03-14T05:00:00Z'),
      ],
      truncated: false,
    };
    const { user } = await openConversation({ handlers: { access_log: { value: log } } });
    await user.click(logButton()!);
    expect((await lines()).map(([what]) => what)).toEqual([
      'Dr Sophie Martin (Médecin) a exporté la conversation',
      'Dr Sophie Martin (Médecin) a rouvert la conversation',
      'Dr Sophie Martin (Médecin) a archivé la conversation',
      'Lucas Petit (Patient(e)) a consulté la conversation',
      'Administrateur DMP (Administrateur) a réactivé votre compte',
      'Administrateur DMP (Administrateur) a changé votre mot de passe',
      'Administrateur DMP (Administrateur) a mis à jour votre compte',
      'Administrateur DMP (Administrateur) a mis à jour votre compte',
      'Administrateur DMP (Administrateur) a mis à jour votre compte',
    ]);
  });

  it('speaks English', async () => {
    const { user } = await openConversation({ language: 'en' });
    await user.click(screen.getByRole('button', { name: 'Access log' }));
    const dialog = screen.getByRole('dialog', { name: 'Access log' });
    expect(dialog).toHaveAccessibleDescription(
      'Who accessed this conversation, and what the administrator did to your account. The administrator never sees the content of your messages.',
    );
    expect(await lines()).toEqual([
      ['Dr Sophie Martin (Doctor) read the conversation (3 times)', '14 March 2025 at 10:20'],
      ['Dr Sophie Martin (Doctor) downloaded an attachment', '14 March 2025 at 10:10'],
      ['Dr Sophie Martin (Doctor) read the conversation', '14 March 2025 at 10:09'],
      ['You read the conversation', '14 March 2025 at 10:05'],
      ['You exported the conversation', '14 March 2025 at 10:04'],
      ['Dr Sophie Martin (Doctor) closed the conversation', '13 March 2025 at 17:00'],
      ['Administrateur DMP (Administrator) disabled your account', '12 March 2025 at 09:00'],
    ]);
    expect(translate('en', 'accessLog.account.enable')).toBe('re-enabled your account');
    expect(translate('en', 'accessLog.account.passwd')).toBe('changed your password');
    expect(translate('en', 'accessLog.account.update')).toBe('updated your account');
    expect(translate('en', 'accessLog.role.patient')).toBe('Patient');
    expect(translate('en', 'accessLog.action.reopen')).toBe('reopened the conversation');
    expect(translate('en', 'accessLog.action.archive')).toBe('archived the conversation');
  });

  it('says when nothing was recorded', async () => {
    const { user } = await openConversation({ handlers: { access_log: { value: { entries: [], truncated: false } } } });
    await user.click(logButton()!);
    expect(await screen.findByTestId('access-log-empty')).toHaveTextContent('Aucun accès enregistré.');
    expect(screen.queryAllByTestId('access-log-entry')).toHaveLength(0);
  });

  it('says when only the most recent accesses are shown', async () => {
    const { user } = await openConversation({ handlers: { access_log: { value: { ...LOG, truncated: true } } } });
    await user.click(logButton()!);
    expect(await screen.findByTestId('access-log-truncated')).toHaveTextContent('Seuls les 500 accès les plus récents sont affichés.');
    expect(screen.getAllByTestId('access-log-entry')).toHaveLength(7);
  });

  it('shows a loading state while the log is on its way', async () => {
    const pending = deferred<AccessLogResponse>();
    const { user } = await openConversation({ handlers: { access_log: () => pending.promise } });
    await user.click(logButton()!);
    expect(within(logDialog()!).getByRole('status')).toHaveTextContent(fr('accessLog.loading'));
    pending.resolve(LOG);
    expect(await screen.findAllByTestId('access-log-entry')).toHaveLength(7);
    expect(within(logDialog()!).queryByText(fr('accessLog.loading'))).not.toBeInTheDocument();
  });

  it('shows a refusal through the error messages, and loads again on "Réessayer"', async () => {
    let fail = true;
    const { backend, user } = await openConversation({
      handlers: {
        access_log: () => {
          if (fail) throw commandError('CONTEXT_ACCESS_DENIED');
          return LOG;
        },
      },
    });
    await user.click(logButton()!);
    const alert = await within(logDialog()!).findByRole('alert');
    expect(alert).toHaveTextContent(fr('error.accessDenied'));
    expect(alert).not.toHaveTextContent('message interne');
    fail = false;
    await user.click(within(alert).getByRole('button', { name: fr('common.retry') }));
    expect(await screen.findAllByTestId('access-log-entry')).toHaveLength(7);
    expect(backend.callsOf('access_log')).toHaveLength(2);
  });

  it('loads again each time it is opened', async () => {
    const { backend, user } = await openConversation();
    await user.click(logButton()!);
    await screen.findAllByTestId('access-log-entry');
    await user.click(within(logDialog()!).getByRole('button', { name: fr('common.close') }));
    expect(logDialog()).not.toBeInTheDocument();
    await user.click(logButton()!);
    await screen.findAllByTestId('access-log-entry');
    expect(backend.callsOf('access_log')).toHaveLength(2);
  });

  it('is reached from the keyboard; Escape closes the log, not the conversation, and focus returns to the button', async () => {
    const { onClose, user } = await openConversation();
    const button = logButton()!;
    button.focus();
    await user.keyboard('{Enter}');
    const dialog = logDialog()!;
    await screen.findAllByTestId('access-log-entry');
    expect(dialog).toContainElement(document.activeElement as HTMLElement);
    await user.keyboard('{Escape}');
    expect(logDialog()).not.toBeInTheDocument();
    expect(onClose).not.toHaveBeenCalled();
    await waitFor(() => expect(button).toHaveFocus());
  });

  it('is not offered to the doctor', async () => {
    const { backend } = await openConversation({ me: doctorUser });
    expect(screen.getByRole('button', { name: fr('search.toggle') })).toBeInTheDocument();
    expect(logButton()).not.toBeInTheDocument();
    expect(screen.queryByTestId('access-log-button')).not.toBeInTheDocument();
    expect(backend.callsOf('access_log')).toHaveLength(0);
  });

  it('is disabled, and says why, in offline reading', async () => {
    const { backend } = await openConversation();
    await emitEvent('dmp://connection', { state: 'disconnected', readOnly: true });
    const button = logButton()!;
    await waitFor(() => expect(button).toBeDisabled());
    expect(button).toHaveAccessibleDescription(fr('accessLog.offline'));
    expect(backend.callsOf('access_log')).toHaveLength(0);
    await emitEvent('dmp://connection', { state: 'connected', readOnly: false });
    await waitFor(() => expect(button).toBeEnabled());
  });
});

describe('groupReads', () => {
  const at = (minutes: number) => new Date(Date.UTC(2025, 2, 14, 9, 0) + minutes * 60_000).toISOString();

  it('folds reads by one person, each within 5 minutes of the next, keeping the newest', () => {
    const entries = [entry(doctor, 'read', at(20)), entry(doctor, 'read', at(16)), entry(doctor, 'read', at(11)), entry(doctor, 'read', at(5))];
    // 20 → 16 → 11 are each ≤ 5 min apart; 11 → 5 is 6 min.
    expect(groupReads(entries)).toEqual([
      { entry: entries[0], count: 3 },
      { entry: entries[3], count: 1 },
    ]);
    expect(READ_GROUP_MS).toBe(5 * 60_000);
  });

  it('does not fold reads by different people, nor across another action, nor other actions', () => {
    const entries = [
      entry(doctor, 'read', at(10)),
      entry(patient, 'read', at(9)),
      entry(doctor, 'read', at(8)),
      entry(doctor, 'download', at(7)),
      entry(doctor, 'download', at(6)),
      entry(doctor, 'read', at(5)),
    ];
    expect(groupReads(entries).map((line) => line.count)).toEqual([1, 1, 1, 1, 1, 1]);
  });
});
