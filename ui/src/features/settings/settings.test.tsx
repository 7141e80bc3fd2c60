import { render, screen, waitFor, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { describe, expect, it } from 'vitest';
import { App } from '../../app/App';
import { commandError, emitEvent, mockBackend, type Handlers } from '../../test/ipc';
import { examen, historyPage, ordonnance, patientUser, signedIn, inbox } from '../../test/fixtures';

function startAsPatient(handlers: Handlers = {}) {
  const backend = mockBackend({
    resume_session: { value: signedIn(patientUser) },
    list_contexts: { value: inbox([ordonnance, examen]) },
    load_history: { value: historyPage([]) },
    safety_code: (args) => (args.userId === 'medecin_456' ? '4821 0937 5512 8840 2291 6603' : '1111 2222 3333 4444 5555 6666'),
    ...handlers,
  });
  const user = userEvent.setup();
  render(<App />);
  return { backend, user };
}

describe('settings', () => {
  it('switches the whole interface from French to English and saves the choice', async () => {
    const { user, backend } = startAsPatient();
    expect(await screen.findByRole('button', { name: /Questions sur l'ordonnance/ })).toBeInTheDocument();
    await user.click(screen.getByRole('button', { name: 'Ouvrir les paramètres' }));
    const dialog = screen.getByRole('dialog', { name: 'Paramètres' });
    await user.click(within(dialog).getByRole('radio', { name: 'English' }));
    await waitFor(() => expect(backend.callsOf('set_settings')).toEqual([{ settings: { language: 'en', notificationPreview: true } }]));
    expect(screen.getByRole('dialog', { name: 'Settings' })).toBeInTheDocument();
    await user.click(screen.getByRole('button', { name: 'Close' }));
    expect(screen.getByRole('heading', { name: 'My DMP' })).toBeInTheDocument();
    expect(screen.getByRole('tab', { name: 'Medical history' })).toBeInTheDocument();
    expect(screen.getByRole('button', { name: /Questions about the prescription/ })).toBeInTheDocument();
    expect(screen.getByRole('button', { name: 'Sign out' })).toBeInTheDocument();
    expect(screen.getByRole('img', { name: '2 unread messages' })).toBeInTheDocument();
  });

  it('applies the stored language from get_settings', async () => {
    startAsPatient({ get_settings: { value: { language: 'en', notificationPreview: false } } });
    expect(await screen.findByRole('heading', { name: 'My DMP' })).toBeInTheDocument();
  });

  it('toggles the notification preview with set_settings', async () => {
    const { user, backend } = startAsPatient();
    await screen.findByRole('heading', { name: 'Mon DMP' });
    await user.click(screen.getByRole('button', { name: 'Ouvrir les paramètres' }));
    const toggle = screen.getByRole('switch', { name: 'Afficher le contenu des messages dans les notifications' });
    await waitFor(() => expect(toggle).toBeEnabled());
    expect(toggle).toHaveAttribute('aria-checked', 'true');
    await user.click(toggle);
    await waitFor(() => expect(backend.callsOf('set_settings')).toEqual([{ settings: { language: 'fr', notificationPreview: false } }]));
    expect(toggle).toHaveAttribute('aria-checked', 'false');
  });

  it('rolls the preview back and explains by code when saving fails', async () => {
    const { user } = startAsPatient({
      set_settings: () => {
        throw commandError('CACHE_ERROR');
      },
    });
    await screen.findByRole('heading', { name: 'Mon DMP' });
    await user.click(screen.getByRole('button', { name: 'Ouvrir les paramètres' }));
    const toggle = screen.getByRole('switch');
    await waitFor(() => expect(toggle).toBeEnabled());
    await user.click(toggle);
    expect(await screen.findByRole('alert')).toHaveTextContent('Préférences non enregistrées. Le stockage local chiffré est inaccessible.');
    expect(toggle).toHaveAttribute('aria-checked', 'true');
  });

  it('shows a peer’s safety code', async () => {
    const { user, backend } = startAsPatient();
    await screen.findByRole('heading', { name: 'Mon DMP' });
    await user.click(screen.getByRole('button', { name: 'Ouvrir les paramètres' }));
    await user.selectOptions(screen.getByRole('combobox', { name: 'Correspondant' }), 'Dr Sophie Martin');
    expect(await screen.findByText('4821 0937 5512 8840 2291 6603')).toBeInTheDocument();
    expect(backend.callsOf('safety_code')).toEqual([{ userId: 'medecin_456' }]);
  });

  it('opens the peer’s safety code from the conversation header', async () => {
    const { user } = startAsPatient();
    await user.click(await screen.findByRole('button', { name: /Questions sur l'ordonnance/ }));
    await user.click(await screen.findByRole('button', { name: 'Code de sécurité de Dr Sophie Martin' }));
    const dialog = screen.getByRole('dialog', { name: 'Code de sécurité' });
    expect(await within(dialog).findByText('4821 0937 5512 8840 2291 6603')).toBeInTheDocument();
    await user.keyboard('{Escape}');
    expect(screen.queryByRole('dialog', { name: 'Code de sécurité' })).not.toBeInTheDocument();
    expect(screen.getByRole('dialog', { name: "Questions sur l'ordonnance" })).toBeInTheDocument();
  });
});

describe('peer key change', () => {
  it('blocks with a warning that Escape does not dismiss', async () => {
    const { user } = startAsPatient();
    await screen.findByRole('heading', { name: 'Mon DMP' });
    await emitEvent('dmp://peer-key-changed', { userId: 'medecin_456', name: 'Dr Sophie Martin' });
    const warning = await screen.findByRole('alertdialog', { name: /La clé de sécurité de Dr Sophie Martin a changé/ });
    expect(warning).toHaveAttribute('aria-modal', 'true');
    await user.keyboard('{Escape}');
    expect(screen.getByRole('alertdialog')).toBeInTheDocument();
    await user.click(within(warning).getByRole('button', { name: 'J’ai compris' }));
    expect(screen.queryByRole('alertdialog')).not.toBeInTheDocument();
  });

  it('leads to the safety code of that peer', async () => {
    const { user, backend } = startAsPatient();
    await screen.findByRole('heading', { name: 'Mon DMP' });
    await emitEvent('dmp://peer-key-changed', { userId: 'medecin_456', name: 'Dr Sophie Martin' });
    await user.click(await screen.findByRole('button', { name: 'Vérifier le code de sécurité' }));
    expect(await screen.findByText('4821 0937 5512 8840 2291 6603')).toBeInTheDocument();
    expect(backend.callsOf('safety_code')).toEqual([{ userId: 'medecin_456' }]);
  });
});
