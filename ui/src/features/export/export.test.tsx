import { screen, waitFor } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { describe, expect, it, vi } from 'vitest';
import { commandError, mockBackend, type Handler } from '../../test/ipc';
import { examen, historyPage, makeMessage, patientUser } from '../../test/fixtures';
import { renderWithProviders } from '../../test/render';
import { SecureMessaging } from '../messages/SecureMessaging';

async function open(handler: Handler<string>) {
  const backend = mockBackend({
    load_history: { value: historyPage([makeMessage({ content: 'Bonjour', context: { type: 'examen', id: 'exa_321' } })]) },
    export_conversation: handler,
  });
  const user = userEvent.setup();
  renderWithProviders(<SecureMessaging context={examen} me={patientUser} onClose={vi.fn()} />);
  await screen.findByText('Bonjour');
  return { backend, user };
}

describe('export menu', () => {
  it('exports as JSON and shows the saved path', async () => {
    const { backend, user } = await open((args) => `/home/camille/Documents/DMP/examen-exa_321.${String(args.format)}`);
    const button = screen.getByRole('button', { name: 'Exporter la conversation' });
    expect(button).toHaveAttribute('data-testid', 'export-button');
    await user.click(button);
    await user.click(screen.getByRole('menuitem', { name: /JSON/ }));
    await waitFor(() => expect(backend.callsOf('export_conversation')).toEqual([{ contextType: 'examen', contextId: 'exa_321', format: 'json' }]));
    const notice = await screen.findByText('Conversation exportée : /home/camille/Documents/DMP/examen-exa_321.json');
    expect(notice.closest('[role="status"]')).not.toBeNull();
  });

  it('is keyboard operable: arrow to "Document imprimable", Enter exports HTML', async () => {
    const { backend, user } = await open({ value: '/home/camille/Documents/DMP/examen.html' });
    const button = screen.getByRole('button', { name: 'Exporter la conversation' });
    button.focus();
    await user.keyboard('{Enter}');
    expect(button).toHaveAttribute('aria-expanded', 'true');
    expect(screen.getByRole('menuitem', { name: /JSON/ })).toHaveFocus();
    await user.keyboard('{ArrowDown}');
    expect(screen.getByRole('menuitem', { name: /Document imprimable/ })).toHaveFocus();
    await user.keyboard('{Enter}');
    await waitFor(() => expect(backend.callsOf('export_conversation')[0]).toMatchObject({ format: 'html' }));
    expect(await screen.findByText('Conversation exportée : /home/camille/Documents/DMP/examen.html')).toBeInTheDocument();
  });

  it('closes the menu on Escape without closing the conversation, and reports a failure by code', async () => {
    const { user } = await open(() => {
      throw commandError('CACHE_ERROR');
    });
    await user.click(screen.getByRole('button', { name: 'Exporter la conversation' }));
    await user.keyboard('{Escape}');
    expect(screen.queryByRole('menu')).not.toBeInTheDocument();
    expect(screen.getByRole('dialog', { name: 'Discussion sur les résultats' })).toBeInTheDocument();
    await user.click(screen.getByRole('button', { name: 'Exporter la conversation' }));
    await user.click(screen.getByRole('menuitem', { name: /JSON/ }));
    expect(await screen.findByRole('alert')).toHaveTextContent('Le stockage local chiffré est inaccessible.');
  });
});
