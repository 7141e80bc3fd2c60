import { screen, waitFor, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { describe, expect, it, vi } from 'vitest';
import { mockBackend } from '../../test/ipc';
import { doctor, historyPage, makeMessage, ordonnance, patientUser } from '../../test/fixtures';
import { renderWithProviders } from '../../test/render';
import { SecureMessaging } from '../messages/SecureMessaging';

describe('in-conversation search', () => {
  it('searches within the context, highlights matches safely, and jumps to the chosen message', async () => {
    const target = makeMessage({ seq: 2, id: 'msg_cible', from: doctor, content: "Continuez l'amoxicilline jusqu'au bout." });
    const backend = mockBackend({
      load_history: { value: historyPage([makeMessage({ seq: 1, content: 'Bonjour' }), target]) },
      search_messages: {
        value: [
          { message: target, snippet: "Continuez l&#39;<mark>amoxicilline</mark> &lt;img src=x onerror=alert(1)&gt;" },
        ],
      },
    });
    const user = userEvent.setup();
    renderWithProviders(<SecureMessaging context={ordonnance} me={patientUser} onClose={vi.fn()} />);
    await screen.findByText('Bonjour');

    const toggle = screen.getByRole('button', { name: 'Rechercher dans la conversation' });
    await user.click(toggle);
    expect(toggle).toHaveAttribute('aria-pressed', 'true');
    const input = screen.getByRole('searchbox', { name: 'Rechercher dans la conversation' });
    expect(input).toHaveFocus();
    await user.type(input, 'amox');

    await waitFor(() => expect(backend.callsOf('search_messages')).toEqual([{ query: 'amox', contextType: 'ordonnance', contextId: 'ord_789' }]));
    const results = await screen.findByRole('list', { name: 'Résultats de la recherche' });
    const snippet = within(results).getByTestId('search-snippet');
    expect(snippet.querySelector('mark')).toHaveTextContent('amoxicilline');
    expect(snippet.querySelector('img')).toBeNull();
    expect(snippet).toHaveTextContent("Continuez l'amoxicilline <img src=x onerror=alert(1)>");

    await user.click(within(results).getByRole('button'));
    const item = document.querySelector('[data-message-id="msg_cible"]')!;
    await waitFor(() => expect(item.querySelector('.outline-yellow-300')).not.toBeNull());
    expect(item).toHaveFocus();
  });

  it('closes with Escape without closing the conversation', async () => {
    mockBackend({ load_history: { value: historyPage([makeMessage({ content: 'Bonjour' })]) }, search_messages: { value: [] } });
    const onClose = vi.fn();
    const user = userEvent.setup();
    renderWithProviders(<SecureMessaging context={ordonnance} me={patientUser} onClose={onClose} />);
    await screen.findByText('Bonjour');
    await user.click(screen.getByRole('button', { name: 'Rechercher dans la conversation' }));
    await user.type(screen.getByRole('searchbox'), 'xyz');
    expect(await screen.findByText('Aucun message ne correspond.')).toBeInTheDocument();
    await user.keyboard('{Escape}');
    expect(screen.queryByRole('searchbox')).not.toBeInTheDocument();
    expect(onClose).not.toHaveBeenCalled();
  });
});
