import { render, screen, waitFor, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { describe, expect, it } from 'vitest';
import type { ContextSummary, Notification } from '../../api';
import { App } from '../../app/App';
import { emitEvent, mockBackend, type Handlers } from '../../test/ipc';
import { doctorUser, historyPage, makeMessage, ordonnance, otherPatient, patient, session, signedIn, inbox } from '../../test/fixtures';

const notification = (over: Partial<Notification> = {}): Notification => ({
  id: 'notif_1',
  type: 'new_message',
  title: 'Nouveau message de Camille Durand',
  body: 'Bonjour docteur, j’ai une éruption depuis hier.',
  sender: patient,
  context: { type: 'ordonnance', id: 'ord_789' },
  sessionId: 'session_ordonnance_ord_789_patient_123_medecin_456',
  messageId: 'msg_1',
  isUrgent: false,
  createdAt: '2025-03-14T08:30:00Z',
  ...over,
});

const lucas: ContextSummary = {
  ...ordonnance,
  id: 'ord_900',
  title: 'Ventoline 100 µg — asthme',
  patient: otherPatient,
  session: session('ordonnance', 'ord_900', otherPatient),
  unreadCount: 0,
  lastMessageAt: '2025-03-12T10:00:00Z',
  hasUrgentUnread: false,
};
const camille: ContextSummary = { ...ordonnance, unreadCount: 3, hasUrgentUnread: true };

function startAsDoctor(handlers: Handlers = {}) {
  const backend = mockBackend({
    resume_session: { value: signedIn(doctorUser) },
    list_contexts: { value: inbox([camille, lucas]) },
    list_notifications: { value: [notification()] },
    load_history: { value: historyPage([makeMessage({ content: 'Bonjour docteur' })]) },
    ...handlers,
  });
  const user = userEvent.setup();
  render(<App />);
  return { backend, user };
}

describe('doctor notifications and inbox', () => {
  it('shows the inbox in Rust’s order (urgent unread first) and the listed notifications', async () => {
    startAsDoctor();
    const rows = await screen.findAllByTestId('inbox-row');
    expect(rows[0]).toHaveTextContent('Camille Durand');
    expect(rows[0]).toHaveTextContent('Urgent');
    expect(rows[1]).toHaveTextContent('Lucas Petit');
    const panel = screen.getByRole('region', { name: 'Notifications' });
    expect(await within(panel).findByText('Nouveau message de Camille Durand')).toBeInTheDocument();
  });

  it('adds live dmp://notification on top, without duplicates, and opens its conversation on click', async () => {
    const { user } = startAsDoctor();
    const panel = await screen.findByRole('region', { name: 'Notifications' });
    await within(panel).findByText('Nouveau message de Camille Durand');
    const urgent = notification({
      id: 'notif_2',
      title: 'Message urgent de Lucas Petit',
      body: 'Je n’arrive plus à respirer correctement',
      sender: otherPatient,
      context: { type: 'ordonnance', id: 'ord_900' },
      isUrgent: true,
      createdAt: '2025-03-14T09:45:00Z',
    });
    await emitEvent('dmp://notification', urgent);
    await emitEvent('dmp://notification', urgent);
    const items = within(panel).getAllByRole('listitem');
    expect(items).toHaveLength(2);
    expect(items[0]).toHaveTextContent('Nouveau message de Lucas Petit');
    expect(within(items[0]!).getByText('Urgent')).toBeInTheDocument();

    await user.click(within(items[0]!).getByRole('button'));
    expect(await screen.findByRole('dialog', { name: 'Lucas Petit' })).toHaveTextContent('Ventoline 100 µg — asthme');
  });

  it('opens the conversation named by dmp://open-conversation (a native notification was clicked)', async () => {
    const { backend } = startAsDoctor();
    await screen.findAllByTestId('inbox-row');
    await emitEvent('dmp://open-conversation', { contextType: 'ordonnance', contextId: 'ord_789' });
    const dialog = await screen.findByRole('dialog', { name: 'Camille Durand' });
    expect(dialog).toHaveTextContent('Amoxicilline 1 g — angine bactérienne');
    await waitFor(() =>
      expect(backend.callsOf('set_open_conversation')).toContainEqual({ conversation: { contextType: 'ordonnance', contextId: 'ord_789' } }),
    );
  });

  it('takes counts and order from list_contexts once, then only from dmp://inbox (no reload per message)', async () => {
    const { backend } = startAsDoctor();
    await screen.findAllByTestId('inbox-row');
    expect(screen.getByRole('img', { name: '3 messages non lus au total' })).toBeInTheDocument();

    // The home screen does not listen to messages: the inbox event alone updates it.
    await emitEvent(
      'dmp://message',
      makeMessage({ seq: 200, content: 'Nouveau', context: { type: 'ordonnance', id: 'ord_900' }, from: otherPatient }),
      { unheard: true },
    );
    await emitEvent('dmp://inbox', inbox([{ ...lucas, unreadCount: 2, hasUrgentUnread: true }, camille]));
    const rows = screen.getAllByTestId('inbox-row');
    expect(rows.map((r) => r.dataset.contextId)).toEqual(['ord_900', 'ord_789']);
    expect(screen.getByRole('img', { name: '5 messages non lus au total' })).toBeInTheDocument();
    await new Promise((r) => setTimeout(r, 400));
    expect(backend.callsOf('list_contexts')).toHaveLength(1);
    // The title is Rust's job (it sets "(N) DMP Messagerie" from the same inbox).
    expect(document.title).toBe('DMP Messagerie');
  });

  it('clears the notifications of a conversation once it is read, and only then', async () => {
    startAsDoctor();
    const panel = await screen.findByRole('region', { name: 'Notifications' });
    await within(panel).findByText('Nouveau message de Camille Durand');
    const item = within(panel).getByTestId('notification-item');
    expect(item).toHaveAttribute('data-context-id', 'ord_789');
    expect(screen.getByTestId('notifications-button')).toHaveAttribute('data-count', '1');

    // A notification arriving before the inbox that counts its message stays.
    await emitEvent('dmp://notification', notification({ id: 'notif_3', sender: otherPatient, context: { type: 'ordonnance', id: 'ord_900' } }));
    expect(within(panel).getAllByTestId('notification-item')).toHaveLength(2);

    await emitEvent('dmp://inbox', inbox([{ ...camille, unreadCount: 0, hasUrgentUnread: false }, { ...lucas, unreadCount: 1 }]));
    expect(within(panel).getAllByTestId('notification-item').map((n) => n.dataset.contextId)).toEqual(['ord_900']);
    expect(screen.getByTestId('notifications-button')).toHaveAttribute('data-count', '1');
  });

  it('writes the notifications in the UI’s language, not the shell’s French', async () => {
    startAsDoctor({ get_settings: { value: { language: 'en', notificationPreview: true } } });
    const panel = await screen.findByRole('region', { name: 'Notifications' });
    expect(await within(panel).findByText('New message from Camille Durand')).toBeInTheDocument();
    expect(panel).not.toHaveTextContent('Nouveau message');
    expect(screen.getByTestId('notifications-button')).toHaveAccessibleName('Notifications, 1 unseen');
  });

  it('shows or hides the panel with the bell', async () => {
    const { user } = startAsDoctor();
    await screen.findByRole('region', { name: 'Notifications' });
    const bell = screen.getByTestId('notifications-button');
    expect(bell).toHaveAttribute('aria-pressed', 'true');
    await user.click(bell);
    expect(screen.queryByRole('region', { name: 'Notifications' })).not.toBeInTheDocument();
    await user.click(bell);
    expect(screen.getByRole('region', { name: 'Notifications' })).toBeInTheDocument();
  });
});
