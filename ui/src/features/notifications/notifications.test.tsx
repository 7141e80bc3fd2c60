import { render, screen, waitFor, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { describe, expect, it } from 'vitest';
import type { ContextSummary, Notification } from '../../api';
import { App } from '../../app/App';
import { emitEvent, mockBackend, type Handlers } from '../../test/ipc';
import { doctorUser, historyPage, makeMessage, ordonnance, otherPatient, patient, session, signedIn, inbox } from '../../test/fixtures';
import { windowTitle } from './useUnreadTitle';

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
};

function startAsDoctor(handlers: Handlers = {}) {
  const backend = mockBackend({
    resume_session: { value: signedIn(doctorUser) },
    list_contexts: { value: inbox([lucas, { ...ordonnance, unreadCount: 3, hasUrgentUnread: true }]) },
    list_notifications: { value: [notification()] },
    load_history: { value: historyPage([makeMessage({ content: 'Bonjour docteur' })]) },
    ...handlers,
  });
  const user = userEvent.setup();
  render(<App />);
  return { backend, user };
}

describe('doctor notifications and inbox', () => {
  it('shows the inbox with urgent unread first and the listed notifications', async () => {
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
    expect(items[0]).toHaveTextContent('Message urgent de Lucas Petit');
    expect(within(items[0]!).getByText('Urgent')).toBeInTheDocument();

    await user.click(within(items[0]!).getByRole('button'));
    expect(await screen.findByRole('dialog', { name: "Questions sur l'ordonnance" })).toHaveTextContent('Ventoline 100 µg — asthme');
  });

  it('opens the conversation named by dmp://open-conversation (a native notification was clicked)', async () => {
    const { backend } = startAsDoctor();
    await screen.findAllByTestId('inbox-row');
    await emitEvent('dmp://open-conversation', { contextType: 'ordonnance', contextId: 'ord_789' });
    const dialog = await screen.findByRole('dialog', { name: "Questions sur l'ordonnance" });
    expect(dialog).toHaveTextContent('Camille Durand');
    await waitFor(() =>
      expect(backend.callsOf('set_open_conversation')).toContainEqual({ conversation: { contextType: 'ordonnance', contextId: 'ord_789' } }),
    );
  });

  it('puts the unread total in the window title, from the contexts then from dmp://unread', async () => {
    startAsDoctor();
    await waitFor(() => expect(document.title).toBe('(3) DMP Messagerie'));
    await emitEvent('dmp://unread', { total: 5 });
    expect(document.title).toBe('(5) DMP Messagerie');
    expect(screen.getByRole('img', { name: '5 messages non lus au total' })).toBeInTheDocument();
    await emitEvent('dmp://unread', { total: 0 });
    expect(document.title).toBe('DMP Messagerie');
  });

  it('formats the title', () => {
    expect(windowTitle('DMP Messagerie', 0)).toBe('DMP Messagerie');
    expect(windowTitle('DMP Messagerie', 3)).toBe('(3) DMP Messagerie');
    expect(windowTitle('DMP Messagerie', 250)).toBe('(99+) DMP Messagerie');
  });
});
