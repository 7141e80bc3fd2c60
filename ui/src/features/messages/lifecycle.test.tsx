/**
 * Conversations closed and reopened by their doctor, and archived by either side
 * (docs/messaging.md, "Closing a conversation"): the server's `system` messages as
 * notices, the doctor's controls, the patient's closed banner, live updates from
 * `dmp://message` and `dmp://inbox`, and the SESSION_CLOSED refusal.
 */
import { render, screen, waitFor, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { describe, expect, it, vi } from 'vitest';
import type { ContextSummary, Language, Session, SessionStatus, UiMessage, User } from '../../api';
import { App } from '../../app/App';
import { translate } from '../../i18n';
import { commandError, emitEvent, mockBackend, type Handlers } from '../../test/ipc';
import {
  doctor,
  doctorUser,
  historyPage,
  inbox,
  localMessage,
  makeMessage,
  ordonnance,
  patientUser,
  session,
  signedIn,
  systemMessage,
} from '../../test/fixtures';
import { installIntersectionObserver } from '../../test/intersection';
import systemFromRust from '../../test/rust-system-messages.json';
import { renderWithProviders } from '../../test/render';
import { SecureMessaging } from './SecureMessaging';
import { CLOSE_REASONS, CLOSE_REASON_LABEL, latestSystemEvent } from './systemEvents';

const fr = (key: Parameters<typeof translate>[1], params?: Parameters<typeof translate>[2]) => translate('fr', key, params);

/** The ordonnance's session as the server returns it after a change (one more `seq` for a close or reopen). */
function sessionAfter(status: SessionStatus, lastSeq: number): Session {
  return { ...session('ordonnance', 'ord_789'), status, lastSeq, lastActivity: '2025-03-14T10:00:00Z' };
}

function closedContext(): ContextSummary {
  return { ...ordonnance, session: sessionAfter('closed', 4) };
}

type Setup = { messages?: UiMessage[]; me?: User; context?: ContextSummary; handlers?: Handlers; language?: Language };

async function openConversation({ messages = [], me = patientUser, context = ordonnance, handlers = {}, language = 'fr' }: Setup = {}) {
  const page = { ...historyPage(messages), session: context.session };
  // The stored language wins once the settings are read: the same as the one rendered.
  const backend = mockBackend({ load_history: { value: page }, get_settings: { value: { language, notificationPreview: true } }, ...handlers });
  const onClose = vi.fn();
  const user = userEvent.setup();
  const view = renderWithProviders(<SecureMessaging context={context} me={me} onClose={onClose} />, { language });
  await waitFor(() => expect(screen.queryByText(translate(language, 'messages.loading'))).not.toBeInTheDocument());
  return { backend, onClose, user, view };
}

const composer = () => screen.queryByRole('textbox', { name: fr('composer.label') });
const notices = () => screen.queryAllByTestId('system-notice');

describe('system messages', () => {
  const closed = systemMessage({ event: 'closed', reason: 'consultation' }, { seq: 4, timestamp: '2025-03-14T09:05:00Z' });
  const reopened = systemMessage({ event: 'reopened' }, { seq: 5, timestamp: '2025-03-14T10:30:00Z' });

  it('are centred notes with their own text, time and reason, not bubbles', async () => {
    await openConversation({ messages: [makeMessage({ seq: 3, from: doctor, content: 'Venez me voir au cabinet.' }), closed, reopened] });
    const [closing, reopening] = notices();
    expect(closing).toHaveAttribute('role', 'note');
    expect(closing).toHaveClass('justify-center');
    expect(closing).toHaveAttribute('data-event', 'closed');
    expect(closing).toHaveTextContent(`${fr('system.closed')} · 10:05`);
    expect(within(closing!).getByTestId('system-notice-reason')).toHaveTextContent(fr('closeReason.consultation'));
    expect(closing!.querySelector('time')).toHaveAttribute('dateTime', '2025-03-14T09:05:00Z');
    expect(reopening).toHaveTextContent(`${fr('system.reopened')} · 11:30`);
    expect(within(reopening!).queryByTestId('system-notice-reason')).not.toBeInTheDocument();
    // The server's French sentence is not shown when the event is known.
    expect(screen.queryByText(closed.content)).not.toBeInTheDocument();
    expect(screen.queryByText(reopened.content)).not.toBeInTheDocument();
  });

  it('carry no clear-text warning, no ticks, no sender, no delete or retry action', async () => {
    // The doctor's view: the notice is no more theirs than the patient's.
    await openConversation({ me: doctorUser, messages: [closed] });
    const item = notices()[0]!.closest('li')!;
    expect(within(item).queryByTestId('unverified-warning')).not.toBeInTheDocument();
    expect(item).not.toHaveTextContent(fr('message.notEncrypted'));
    expect(item.querySelector('[data-status]')).toBeNull();
    expect(within(item).queryByRole('button')).not.toBeInTheDocument();
    expect(item).not.toHaveTextContent('DMP Messagerie');
    // Not the doctor's to mark read: it is addressed to the patient.
    expect(item).not.toHaveAttribute('data-unread-id');
  });

  it('say nothing more for the reason "other", and speak English', async () => {
    await openConversation({
      language: 'en',
      messages: [systemMessage({ event: 'closed', reason: 'other' }, { seq: 4 }), systemMessage({ event: 'reopened' }, { seq: 5 })],
    });
    const [closing, reopening] = notices();
    expect(closing).toHaveTextContent('Conversation closed by the doctor');
    expect(within(closing!).queryByTestId('system-notice-reason')).not.toBeInTheDocument();
    expect(reopening).toHaveTextContent('Conversation reopened by the doctor');
  });

  it('show the server’s sentence for an event this UI does not know', async () => {
    const old = systemMessage({ event: 'closed' }, { seq: 4 });
    delete old.metadata.system;
    await openConversation({ messages: [old] });
    expect(notices()[0]).toHaveTextContent('Le médecin a clôturé cette conversation.');
  });

  it('are marked read by the patient, to whom they are addressed', async () => {
    installIntersectionObserver({ everythingVisible: true });
    const { backend } = await openConversation({ messages: [makeMessage({ seq: 3, content: 'Merci' })] });
    await emitEvent('dmp://message', systemMessage({ event: 'closed', reason: 'answered' }, { id: 'msg_sys', seq: 4 }));
    await waitFor(() => expect(backend.callsOf('mark_read')).toEqual([{ messageIds: ['msg_sys'] }]));
  });
});

describe('the doctor closes, reopens and archives', () => {
  it('closes with a reason from an accessible dialog; the header shows it at once and offers "Rouvrir"', async () => {
    const { backend, user } = await openConversation({
      me: doctorUser,
      messages: [makeMessage({ seq: 3, content: 'Merci docteur' })],
      handlers: { close_conversation: { value: sessionAfter('closed', 4) } },
    });
    expect(screen.queryByTestId('conversation-status')).not.toBeInTheDocument();
    const closeButton = screen.getByRole('button', { name: fr('lifecycle.close') });
    expect(closeButton).toHaveAttribute('aria-haspopup', 'dialog');
    await user.click(closeButton);

    const dialog = screen.getByRole('dialog', { name: fr('lifecycle.closeTitle') });
    const reason = within(dialog).getByRole('combobox', { name: fr('lifecycle.reason') });
    expect(reason).toHaveFocus();
    expect(reason).toHaveValue('');
    expect(within(reason).getAllByRole('option').map((o) => o.textContent)).toEqual([
      fr('lifecycle.reasonNone'),
      ...CLOSE_REASONS.map((code) => fr(CLOSE_REASON_LABEL[code])),
    ]);
    await user.selectOptions(reason, fr('closeReason.consultation'));
    await user.click(within(dialog).getByRole('button', { name: fr('lifecycle.confirmClose') }));

    await waitFor(() =>
      expect(backend.callsOf('close_conversation')).toEqual([{ contextType: 'ordonnance', contextId: 'ord_789', reason: 'consultation' }]),
    );
    // From the command's answer, before any inbox event or system message.
    expect(await screen.findByTestId('conversation-status')).toHaveTextContent(fr('conversation.closed'));
    const reopen = screen.getByRole('button', { name: fr('lifecycle.reopen') });
    await waitFor(() => expect(reopen).toHaveFocus());
    expect(screen.queryByRole('button', { name: fr('lifecycle.close') })).not.toBeInTheDocument();
    expect(screen.queryByRole('button', { name: fr('lifecycle.archive') })).not.toBeInTheDocument();
    expect(screen.queryByRole('dialog', { name: fr('lifecycle.closeTitle') })).not.toBeInTheDocument();
    // The doctor cannot write either until reopening.
    expect(composer()).not.toBeInTheDocument();
    expect(screen.getByTestId('closed-banner')).toHaveTextContent(fr('conversation.closedDoctorHint'));
  });

  it('is reached from the keyboard; Escape leaves the dialog, not the conversation; "Sans motif" sends null', async () => {
    const { backend, user, onClose } = await openConversation({
      me: doctorUser,
      handlers: { close_conversation: { value: sessionAfter('closed', 4) } },
    });
    const closeButton = screen.getByRole('button', { name: fr('lifecycle.close') });
    closeButton.focus();
    await user.keyboard('{Enter}');
    expect(screen.getByRole('dialog', { name: fr('lifecycle.closeTitle') })).toBeInTheDocument();
    await user.keyboard('{Escape}');
    expect(screen.queryByRole('dialog', { name: fr('lifecycle.closeTitle') })).not.toBeInTheDocument();
    expect(onClose).not.toHaveBeenCalled();
    expect(closeButton).toHaveFocus();
    expect(backend.callsOf('close_conversation')).toHaveLength(0);

    await user.keyboard('{Enter}');
    await user.click(screen.getByRole('button', { name: fr('lifecycle.confirmClose') }));
    await waitFor(() =>
      expect(backend.callsOf('close_conversation')).toEqual([{ contextType: 'ordonnance', contextId: 'ord_789', reason: null }]),
    );
  });

  it('reopens: the composer comes back', async () => {
    const { backend, user } = await openConversation({
      me: doctorUser,
      context: closedContext(),
      messages: [systemMessage({ event: 'closed', reason: 'answered' }, { seq: 4 })],
      handlers: { reopen_conversation: { value: sessionAfter('active', 5) } },
    });
    expect(screen.getByTestId('conversation-status')).toHaveTextContent(fr('conversation.closed'));
    expect(composer()).not.toBeInTheDocument();
    await user.click(screen.getByRole('button', { name: fr('lifecycle.reopen') }));
    await waitFor(() => expect(backend.callsOf('reopen_conversation')).toEqual([{ contextType: 'ordonnance', contextId: 'ord_789' }]));
    expect(await screen.findByRole('textbox', { name: fr('composer.label') })).toBeEnabled();
    expect(screen.queryByTestId('conversation-status')).not.toBeInTheDocument();
    expect(screen.getByRole('button', { name: fr('lifecycle.close') })).toBeInTheDocument();
  });

  it('shows a refused change like other errors and keeps the status', async () => {
    const { user } = await openConversation({
      me: doctorUser,
      handlers: {
        close_conversation: () => {
          throw commandError('CONFLICT');
        },
      },
    });
    await user.click(screen.getByRole('button', { name: fr('lifecycle.close') }));
    await user.click(screen.getByRole('button', { name: fr('lifecycle.confirmClose') }));
    expect(await screen.findByRole('alert')).toHaveTextContent(fr('error.conflict'));
    expect(screen.queryByTestId('conversation-status')).not.toBeInTheDocument();
    expect(composer()).toBeEnabled();
  });

  it.each([
    ['patient', patientUser],
    ['doctor', doctorUser],
  ] as const)('archives an active conversation (%s) and then says it is archived', async (_who, me) => {
    const { backend, user } = await openConversation({
      me,
      handlers: { archive_conversation: { value: sessionAfter('archived', 3) } },
    });
    expect(screen.queryByTestId('conversation-archived')).not.toBeInTheDocument();
    await user.click(screen.getByRole('button', { name: fr('lifecycle.archive') }));
    await waitFor(() => expect(backend.callsOf('archive_conversation')).toEqual([{ contextType: 'ordonnance', contextId: 'ord_789' }]));
    expect(await screen.findByTestId('conversation-archived')).toHaveTextContent(fr('conversation.archived'));
    expect(screen.queryByRole('button', { name: fr('lifecycle.archive') })).not.toBeInTheDocument();
  });

  it('offers the patient no close or reopen control', async () => {
    await openConversation();
    expect(screen.queryByRole('button', { name: fr('lifecycle.close') })).not.toBeInTheDocument();
    expect(screen.getByRole('button', { name: fr('lifecycle.archive') })).toBeInTheDocument();
  });
});

describe('the patient in a closed conversation', () => {
  it('sees why and where to turn instead, and no composer nor expected answer date', async () => {
    await openConversation({
      context: {
        ...closedContext(),
        awaitingAnswer: { since: '2025-03-14T08:00:00Z', dueAt: '2025-03-17T08:00:00Z', overdue: false, urgent: false, category: null },
      },
      messages: [
        makeMessage({ seq: 3, from: doctor, content: 'Appelez le secrétariat pour un rendez-vous.' }),
        systemMessage({ event: 'closed', reason: 'contact_practice' }, { seq: 4 }),
      ],
    });
    const banner = screen.getByTestId('closed-banner');
    expect(banner).toHaveAttribute('role', 'status');
    expect(banner).toHaveTextContent(fr('conversation.closedPatientTitle'));
    expect(within(banner).getByTestId('closed-reason')).toHaveTextContent(
      fr('conversation.closedReason', { reason: fr('closeReason.contact_practice') }),
    );
    expect(banner).toHaveTextContent("Pour toute nouvelle question, contactez le cabinet de votre médecin. En cas d'urgence, appelez le 15 ou le 112.");
    expect(composer()).not.toBeInTheDocument();
    expect(screen.queryByRole('button', { name: fr('composer.send') })).not.toBeInTheDocument();
    expect(screen.queryByRole('button', { name: fr('lifecycle.reopen') })).not.toBeInTheDocument();
    expect(screen.queryByRole('button', { name: fr('lifecycle.archive') })).not.toBeInTheDocument();
    expect(screen.getByTestId('conversation-status')).toHaveTextContent(fr('conversation.closed'));
    expect(screen.queryByTestId('answer-expected')).not.toBeInTheDocument();
  });

  it('sees no reason line when the close gave none', async () => {
    await openConversation({ context: closedContext(), messages: [systemMessage({ event: 'closed' }, { seq: 4 })] });
    expect(screen.getByTestId('closed-banner')).toHaveTextContent(fr('conversation.closedPatientTitle'));
    expect(screen.queryByTestId('closed-reason')).not.toBeInTheDocument();
  });

  it('reads it in English', async () => {
    await openConversation({ language: 'en', context: closedContext(), messages: [systemMessage({ event: 'closed', reason: 'answered' }, { seq: 4 })] });
    const banner = screen.getByTestId('closed-banner');
    expect(banner).toHaveTextContent('The doctor closed this conversation.');
    expect(banner).toHaveTextContent('Reason: Your questions were answered');
    expect(banner).toHaveTextContent("For any new question, contact your doctor's practice. In an emergency, call 15 or 112.");
  });

  it('follows a close and a reopening live from dmp://message', async () => {
    await openConversation({ messages: [makeMessage({ seq: 3, from: doctor, content: 'Tout est en ordre.' })] });
    expect(composer()).toBeEnabled();
    await emitEvent('dmp://message', systemMessage({ event: 'closed', reason: 'answered' }, { seq: 4 }));
    expect(await screen.findByTestId('closed-banner')).toHaveTextContent(fr('closeReason.answered'));
    expect(composer()).not.toBeInTheDocument();
    expect(notices()).toHaveLength(1);
    expect(screen.getByTestId('announcer')).toHaveTextContent(`${fr('system.closed')}. ${fr('closeReason.answered')}`);

    await emitEvent('dmp://message', systemMessage({ event: 'reopened' }, { seq: 5 }));
    expect(await screen.findByRole('textbox', { name: fr('composer.label') })).toBeEnabled();
    expect(screen.queryByTestId('closed-banner')).not.toBeInTheDocument();
    expect(notices()).toHaveLength(2);
  });

  it('follows the status live from dmp://inbox', async () => {
    const user = userEvent.setup();
    mockBackend({
      resume_session: { value: signedIn(patientUser) },
      list_contexts: { value: inbox([ordonnance]) },
      load_history: { value: historyPage([makeMessage({ seq: 3, from: doctor, content: 'Tout est en ordre.' })]) },
    });
    render(<App />);
    await user.click(await screen.findByRole('button', { name: /Questions sur l'ordonnance/ }));
    expect(await screen.findByRole('textbox', { name: fr('composer.label') })).toBeEnabled();

    await emitEvent('dmp://inbox', inbox([closedContext()]));
    expect(await screen.findByTestId('closed-banner')).toHaveTextContent(fr('conversation.closedPatientTitle'));
    expect(composer()).not.toBeInTheDocument();

    await emitEvent('dmp://inbox', inbox([{ ...ordonnance, session: sessionAfter('active', 5) }]));
    expect(await screen.findByRole('textbox', { name: fr('composer.label') })).toBeEnabled();
  });
});

describe('SESSION_CLOSED', () => {
  it('says the conversation is closed when a send is refused before it is queued', async () => {
    const { user } = await openConversation({
      handlers: {
        send_message: () => {
          throw commandError('SESSION_CLOSED');
        },
      },
    });
    await user.type(screen.getByRole('textbox', { name: fr('composer.label') }), 'Encore une question{Enter}');
    expect(await screen.findByRole('alert')).toHaveTextContent(fr('error.sessionClosed'));
    expect(fr('error.sessionClosed')).toBe('Cette conversation est clôturée : le message ne peut pas être envoyé.');
  });

  it('says it next to a queued message the server refused', async () => {
    await openConversation({
      messages: [localMessage('cm-late', 'Trop tard ?', { state: 'failed', code: 'SESSION_CLOSED', message: 'interne' })],
    });
    const item = screen.getByText('Trop tard ?').closest('li')!;
    expect(within(item).getByTestId('send-error')).toHaveTextContent(fr('error.sessionClosed'));
    expect(within(item).getByTestId('send-error')).not.toHaveTextContent('interne');
  });

  it('is said in English too', () => {
    expect(translate('en', 'error.sessionClosed')).toBe('This conversation is closed: the message cannot be sent.');
  });
});

describe('the doctor is away (docs/messaging.md, "Absence")', () => {
  const absence = {
    from: '2025-03-10T08:00:00Z',
    until: '2099-03-20T17:00:00Z',
    note: 'Le Dr Karim Benali me remplace : 01 23 45 67 89.',
  };
  const awayContext = (): ContextSummary => ({ ...ordonnance, doctorAbsence: absence });
  // The automatic answer, as the server sends it after the patient's message.
  const answer = (init: Partial<UiMessage> = {}) =>
    systemMessage({ event: 'absent', until: '2025-03-20T17:00:00Z' }, { seq: 5, timestamp: '2025-03-14T09:31:00Z', ...init });

  it('is told to the patient above the composer, with the note and the emergency numbers; writing stays possible', async () => {
    const { backend, user } = await openConversation({
      context: awayContext(),
      handlers: { send_message: (args) => localMessage('cm-away', args.content as string) },
    });
    const notice = screen.getByTestId('doctor-absence');
    expect(notice).toHaveTextContent("Votre médecin est absent jusqu'au 20 mars 2099.");
    expect(within(notice).getByTestId('doctor-absence-note')).toHaveTextContent('Le Dr Karim Benali me remplace : 01 23 45 67 89.');
    expect(notice).toHaveTextContent("En cas d'urgence, appelez le 15 ou le 112.");
    // Read with the conversation's description when it opens.
    expect(screen.getByRole('dialog', { name: fr('contexts.ordonnance.title') })).toHaveAccessibleDescription(
      expect.stringContaining("Votre médecin est absent jusqu'au 20 mars 2099."),
    );

    const input = composer()!;
    expect(input).toBeEnabled();
    await user.type(input, 'Bonjour, une question pour votre retour');
    expect(input).toHaveValue('Bonjour, une question pour votre retour');
    await user.keyboard('{Enter}');
    await waitFor(() => expect(backend.callsOf('send_message')).toHaveLength(1));
    expect(backend.callsOf('send_message')[0]).toMatchObject({ content: 'Bonjour, une question pour votre retour' });
  });

  it('is said in English', async () => {
    await openConversation({ language: 'en', context: awayContext() });
    const notice = screen.getByTestId('doctor-absence');
    expect(notice).toHaveTextContent('Your doctor is away until 20 March 2099.');
    expect(notice).toHaveTextContent('Le Dr Karim Benali me remplace');
    expect(notice).toHaveTextContent('In an emergency, call 15 or 112.');
  });

  it('is not shown to the doctor', async () => {
    await openConversation({ me: doctorUser, context: awayContext() });
    expect(screen.queryByTestId('doctor-absence')).not.toBeInTheDocument();
  });

  it('is not shown while the conversation is closed: the closed banner says where to turn', async () => {
    await openConversation({ context: { ...closedContext(), doctorAbsence: absence } });
    expect(screen.getByTestId('closed-banner')).toBeInTheDocument();
    expect(screen.queryByTestId('doctor-absence')).not.toBeInTheDocument();
  });

  it('the automatic answer is a notice with the date of return, what happens next and the emergency numbers', async () => {
    await openConversation({
      context: awayContext(),
      messages: [makeMessage({ seq: 4, content: 'Bonjour docteur', timestamp: '2025-03-14T09:30:00Z' }), answer()],
    });
    const [notice] = notices();
    expect(notice).toHaveAttribute('data-event', 'absent');
    expect(notice).toHaveTextContent("Réponse automatique : votre médecin est absent jusqu'au 20 mars 2025. · 10:31");
    expect(within(notice!).getByTestId('system-notice-detail')).toHaveTextContent(
      "Il lira votre message à son retour. En cas d'urgence, appelez le 15 ou le 112.",
    );
    expect(within(notice!).queryByTestId('system-notice-reason')).not.toBeInTheDocument();
    // Its own text, not the server's French sentence; no bubble actions.
    expect(screen.queryByText(answer().content)).not.toBeInTheDocument();
    expect(within(notice!.closest('li')!).queryByRole('button')).not.toBeInTheDocument();
    // It does not close anything.
    expect(composer()).toBeEnabled();
  });

  it('the automatic answer speaks English', async () => {
    await openConversation({ language: 'en', messages: [answer()] });
    const [notice] = notices();
    expect(notice).toHaveTextContent('Automatic answer: your doctor is away until 20 March 2025.');
    expect(notice).toHaveTextContent('They will read your message when back. In an emergency, call 15 or 112.');
  });

  it('the doctor sees that the automatic answer was sent, and until when', async () => {
    await openConversation({ me: doctorUser, messages: [answer()] });
    const [notice] = notices();
    expect(notice).toHaveTextContent("Réponse automatique envoyée au patient : absent(e) jusqu'au 20 mars 2025");
    expect(within(notice!).queryByTestId('system-notice-detail')).not.toBeInTheDocument();
  });

  it('the automatic answer arrives live and is announced; the conversation stays open', async () => {
    await openConversation({ context: awayContext(), messages: [makeMessage({ seq: 4, content: 'Bonjour docteur' })] });
    await emitEvent('dmp://message', answer());
    expect(await screen.findByTestId('system-notice')).toHaveAttribute('data-event', 'absent');
    expect(screen.getByTestId('announcer')).toHaveTextContent(
      "Réponse automatique : votre médecin est absent jusqu'au 20 mars 2025. Il lira votre message à son retour. En cas d'urgence, appelez le 15 ou le 112.",
    );
    expect(composer()).toBeEnabled();
    expect(screen.queryByTestId('closed-banner')).not.toBeInTheDocument();
  });

  it('the automatic answer without its date shows the server’s sentence', async () => {
    const undated = systemMessage({ event: 'absent' }, { seq: 5 });
    await openConversation({ messages: [undated] });
    expect(notices()[0]).toHaveTextContent(undated.content);
  });

  it('does not count as a close or a reopening', () => {
    const closing = systemMessage({ event: 'closed', reason: 'consultation' }, { seq: 4 });
    expect(latestSystemEvent([closing, answer()])).toEqual(closing.metadata.system);
    expect(latestSystemEvent([answer()])).toBeNull();
  });
});

describe('outside the doctor’s office hours (docs/messaging.md, "Office hours")', () => {
  const hours = {
    timeZone: 'Europe/Paris',
    slots: [
      { day: 'monday' as const, start: '09:00', end: '12:00' },
      { day: 'thursday' as const, start: '14:00', end: '18:00' },
    ],
  };
  // The automatic answer, as the server sends it after the patient's message on a Saturday
  // evening: the doctor reads again on Monday 17 March 2025 at 09:00 in Paris (08:00 UTC).
  const answer = (init: Partial<UiMessage> = {}) =>
    systemMessage({ event: 'outside_hours', until: '2025-03-17T08:00:00Z' }, { seq: 5, timestamp: '2025-03-15T19:12:00Z', ...init });

  it('the automatic answer is a notice with the day and time the doctor reads it, and the emergency numbers', async () => {
    await openConversation({
      context: { ...ordonnance, doctorOfficeHours: hours },
      messages: [makeMessage({ seq: 4, content: 'Bonjour docteur', timestamp: '2025-03-15T19:11:00Z' }), answer()],
    });
    const [notice] = notices();
    expect(notice).toHaveAttribute('role', 'note');
    expect(notice).toHaveAttribute('data-event', 'outside_hours');
    expect(notice).toHaveTextContent(
      'Votre médecin lit les messages pendant ses horaires : il lira le vôtre à partir du 17 mars 2025 à 09:00. · 20:12',
    );
    expect(within(notice!).getByTestId('system-notice-detail')).toHaveTextContent("En cas d'urgence, appelez le 15 ou le 112.");
    expect(within(notice!).queryByTestId('system-notice-reason')).not.toBeInTheDocument();
    // Styled as the absent doctor's answer; its own text, not the server's sentence; no bubble actions.
    expect(notice!.querySelector('p')).toHaveClass('bg-amber-50');
    expect(screen.queryByText(answer().content)).not.toBeInTheDocument();
    expect(within(notice!.closest('li')!).queryByRole('button')).not.toBeInTheDocument();
    // It does not close anything.
    expect(composer()).toBeEnabled();
  });

  it('the automatic answer speaks English', async () => {
    await openConversation({ language: 'en', messages: [answer()] });
    const [notice] = notices();
    expect(notice).toHaveTextContent('Your doctor reads messages during their office hours: they will read yours from 17 March 2025 at 09:00.');
    expect(notice).toHaveTextContent('In an emergency, call 15 or 112.');
  });

  it('the doctor sees that the automatic answer was sent, and when the message will be read', async () => {
    await openConversation({ me: doctorUser, messages: [answer()] });
    const [notice] = notices();
    expect(notice).toHaveTextContent(
      'Réponse automatique envoyée au patient : hors de vos horaires, lu à partir du 17 mars 2025 à 09:00',
    );
    expect(within(notice!).queryByTestId('system-notice-detail')).not.toBeInTheDocument();
  });

  it('the automatic answer arrives live and is announced; the conversation stays open', async () => {
    await openConversation({ messages: [makeMessage({ seq: 4, content: 'Bonjour docteur' })] });
    await emitEvent('dmp://message', answer());
    expect(await screen.findByTestId('system-notice')).toHaveAttribute('data-event', 'outside_hours');
    expect(screen.getByTestId('announcer')).toHaveTextContent(
      "Votre médecin lit les messages pendant ses horaires : il lira le vôtre à partir du 17 mars 2025 à 09:00. En cas d'urgence, appelez le 15 ou le 112.",
    );
    expect(composer()).toBeEnabled();
    expect(screen.queryByTestId('closed-banner')).not.toBeInTheDocument();
  });

  it('the automatic answer without its date shows the server’s sentence, and counts as no close', async () => {
    const undated = systemMessage({ event: 'outside_hours' }, { seq: 5 });
    await openConversation({ messages: [undated] });
    expect(notices()[0]).toHaveTextContent(undated.content);
    const closing = systemMessage({ event: 'closed', reason: 'consultation' }, { seq: 4 });
    expect(latestSystemEvent([closing, answer()])).toEqual(closing.metadata.system);
    expect(latestSystemEvent([answer()])).toBeNull();
  });

  it('renders the exact JSON the Rust side emits (rust-system-messages.json, checked by protocol/tests/ui_fixtures.rs)', async () => {
    const fromRust = systemFromRust as unknown as UiMessage[];
    // The test fixtures' fallback texts are the server's.
    for (const message of fromRust) expect(systemMessage(message.metadata.system!).content).toBe(message.content);
    await openConversation({ messages: fromRust });
    const shown = notices();
    expect(shown.map((n) => n.getAttribute('data-event'))).toEqual(['outside_hours', 'absent', 'closed']);
    expect(shown[0]).toHaveTextContent(
      'Votre médecin lit les messages pendant ses horaires : il lira le vôtre à partir du 17 mars 2025 à 09:00. · 20:05',
    );
    expect(within(shown[0]!).getByTestId('system-notice-detail')).toHaveTextContent("En cas d'urgence, appelez le 15 ou le 112.");
    expect(shown[1]).toHaveTextContent("Réponse automatique : votre médecin est absent jusqu'au 24 mars 2025.");
    expect(shown[2]).toHaveTextContent(fr('system.closed'));
  });

  it('the hours are told to the patient above the composer, not to the doctor, nor once closed', async () => {
    const { view } = await openConversation({ context: { ...ordonnance, doctorOfficeHours: hours } });
    expect(screen.getByTestId('doctor-office-hours')).toHaveTextContent(
      'Dr Sophie Martin lit les messages : lun. 9:00–12:00 · jeu. 14:00–18:00 (heure de Paris)',
    );
    view.unmount();
    await openConversation({ me: doctorUser, context: { ...ordonnance, doctorOfficeHours: hours } });
    expect(screen.queryByTestId('doctor-office-hours')).not.toBeInTheDocument();
  });

  it('the hours are not shown while the conversation is closed', async () => {
    await openConversation({ context: { ...closedContext(), doctorOfficeHours: hours } });
    expect(screen.getByTestId('closed-banner')).toBeInTheDocument();
    expect(screen.queryByTestId('doctor-office-hours')).not.toBeInTheDocument();
  });
});
