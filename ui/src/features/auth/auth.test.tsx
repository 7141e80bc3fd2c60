import { act, render, screen, waitFor, within } from '@testing-library/react';
import type { LastLogin } from '../../api';
import userEvent from '@testing-library/user-event';
import { describe, expect, it } from 'vitest';
import { App } from '../../app/App';
import { commandError, deferred, emitEvent, mockBackend, type Handlers } from '../../test/ipc';
import { doctor, examen, historyPage, inbox, makeMessage, ordonnance, patientUser, signedIn } from '../../test/fixtures';

function start(handlers: Handlers = {}) {
  const backend = mockBackend({
    list_contexts: { value: inbox([ordonnance, examen]) },
    load_history: { value: historyPage([]) },
    ...handlers,
  });
  const user = userEvent.setup();
  render(<App />);
  return { backend, user };
}

async function fillLogin(user: ReturnType<typeof userEvent.setup>, username = 'camille.durand', password = 'correct horse') {
  await user.type(await screen.findByLabelText('Identifiant'), username);
  await user.type(screen.getByLabelText('Mot de passe'), password);
  await user.click(screen.getByRole('button', { name: 'Se connecter' }));
}

describe('login', () => {
  it('calls resume_session at start and shows the login form with the default server when nobody is signed in', async () => {
    const { backend } = start();
    expect(await screen.findByRole('heading', { name: 'Connexion' })).toBeInTheDocument();
    expect(backend.callsOf('resume_session')).toHaveLength(1);
    expect(screen.getByLabelText('Adresse du serveur')).toHaveValue('https://127.0.0.1:8443');
    expect(screen.getByRole('checkbox', { name: 'Rester connecté' })).not.toBeChecked();
    expect(document.title).toBe('DMP Messagerie');
  });

  it('signs in with server, username, password and "Rester connecté"', async () => {
    const { backend, user } = start({ login: { value: patientUser } });
    await user.click(await screen.findByRole('checkbox', { name: 'Rester connecté' }));
    await fillLogin(user);
    expect(backend.callsOf('login')).toEqual([
      { server: 'https://127.0.0.1:8443', username: 'camille.durand', password: 'correct horse', remember: true },
    ]);
    expect(await screen.findByRole('heading', { name: 'Mon DMP' })).toBeInTheDocument();
  });

  it.each([
    ['AUTH_REQUIRED', 'Identifiant ou mot de passe incorrect'],
    ['RATE_LIMIT_EXCEEDED', 'Trop de tentatives de connexion. Patientez quelques minutes avant de réessayer.'],
    ['NETWORK_UNAVAILABLE', 'Serveur injoignable. Vérifiez l’adresse du serveur et votre connexion réseau.'],
    ['KEYCHAIN_ERROR', 'Impossible d’accéder au trousseau sécurisé du système.'],
    ['TLS_ERROR', 'Connexion sécurisée impossible : le certificat du serveur n’est pas reconnu. Vérifiez l’adresse ou le fichier CA (options avancées).'],
    ['INSECURE_SERVER_ADDRESS', 'Adresse non sécurisée : utilisez https:// (http:// n’est permis que pour ce poste).'],
    ['ACCOUNT_DISABLED', 'Ce compte a été désactivé. Contactez votre établissement ou l’administrateur du serveur.'],
    ['SOMETHING_NEW', 'Une erreur inattendue est survenue. Réessayez.'],
  ])('maps %s to its message by code, whatever the message text', async (code, text) => {
    const { user } = start({
      login: () => {
        throw commandError(code, 'Identifiant ou mot de passe incorrect'); // the UI must not show this text for other codes
      },
    });
    await fillLogin(user);
    expect(await screen.findByRole('alert')).toHaveTextContent(text);
    expect(screen.getByLabelText('Mot de passe')).toHaveValue('');
    expect(screen.getByLabelText('Mot de passe')).toHaveFocus();
  });

  it('passes the CA file of the advanced options to login', async () => {
    const { backend, user } = start({ login: { value: patientUser } });
    await user.click(await screen.findByText('Options avancées'));
    await user.type(screen.getByLabelText('Certificat de l’autorité (fichier CA, PEM)'), '/srv/dmp/tls/ca.pem');
    const server = screen.getByLabelText('Adresse du serveur');
    await user.clear(server);
    await user.type(server, 'https://dmp.example.fr:8443/');
    await fillLogin(user);
    expect(backend.callsOf('login')).toEqual([
      {
        server: 'https://dmp.example.fr:8443',
        username: 'camille.durand',
        password: 'correct horse',
        remember: false,
        caFile: '/srv/dmp/tls/ca.pem',
      },
    ]);
  });

  it('pre-fills server, username and CA file from last_login (kept by Rust across logout)', async () => {
    const { backend } = start({ last_login: { value: { server: 'https://dmp.example.fr', username: 'sophie.martin', caFile: '/etc/dmp/ca.pem' } } });
    await waitFor(() => expect(screen.getByLabelText('Adresse du serveur')).toHaveValue('https://dmp.example.fr'));
    expect(screen.getByLabelText('Identifiant')).toHaveValue('sophie.martin');
    expect(screen.getByLabelText('Certificat de l’autorité (fichier CA, PEM)')).toHaveValue('/etc/dmp/ca.pem');
    expect(backend.callsOf('last_login')).toHaveLength(1);
  });

  it('keeps the defaults when last_login knows nothing, and never overwrites what was typed', async () => {
    const answer = deferred<LastLogin | null>();
    const { user } = start({ last_login: () => answer.promise });
    const username = await screen.findByLabelText('Identifiant');
    await user.type(username, 'camille.durand');
    await act(async () => answer.resolve({ server: 'https://autre.example.fr', username: 'sophie.martin', caFile: null }));
    expect(username).toHaveValue('camille.durand');
    expect(screen.getByLabelText('Adresse du serveur')).toHaveValue('https://autre.example.fr');
    expect(screen.getByLabelText('Certificat de l’autorité (fichier CA, PEM)')).toHaveValue('');
  });

  it('checks empty fields and the server address before calling login', async () => {
    const { backend, user } = start();
    const server = await screen.findByLabelText('Adresse du serveur');
    await user.clear(server);
    await user.type(server, 'serveur-dmp');
    await user.click(screen.getByRole('button', { name: 'Se connecter' }));
    expect(screen.getByText('Saisissez une adresse commençant par https://')).toBeInTheDocument();
    expect(screen.getAllByText('Ce champ est obligatoire')).toHaveLength(2);
    expect(screen.getByLabelText('Identifiant')).toHaveAttribute('aria-invalid', 'true');
    expect(backend.callsOf('login')).toHaveLength(0);
  });

  it('goes straight to the workspace when resume_session returns a user', async () => {
    start({ resume_session: { value: signedIn(patientUser) } });
    expect(await screen.findByRole('heading', { name: 'Mon DMP' })).toBeInTheDocument();
    expect(screen.queryByRole('heading', { name: 'Connexion' })).not.toBeInTheDocument();
  });

  it('switches the login screen from French to English', async () => {
    const { user } = start();
    await user.click(await screen.findByRole('button', { name: 'English' }));
    expect(screen.getByRole('heading', { name: 'Sign in' })).toBeInTheDocument();
    expect(screen.getByLabelText('Username')).toBeInTheDocument();
    expect(screen.getByRole('checkbox', { name: 'Stay signed in' })).toBeInTheDocument();
    expect(document.documentElement.lang).toBe('en');
  });
});

describe('session end', () => {
  it('on dmp://session-expired returns to login, then reopens the conversation with its draft kept', async () => {
    const { user, backend } = start({ resume_session: { value: signedIn(patientUser) }, login: { value: patientUser } });
    await user.click(await screen.findByRole('button', { name: /Questions sur l'ordonnance/ }));
    const draft = 'Je voulais savoir si je peux prendre du paracétamol';
    await user.type(await screen.findByRole('textbox', { name: 'Votre message' }), draft);

    await emitEvent('dmp://session-expired', { reason: 'expired' });
    expect(await screen.findByRole('heading', { name: 'Connexion' })).toBeInTheDocument();
    expect(screen.getByRole('status')).toHaveTextContent('Votre session a expiré. Reconnectez-vous : vos brouillons ont été conservés.');
    expect(screen.getByLabelText('Identifiant')).toHaveValue('camille.durand');

    await user.type(screen.getByLabelText('Mot de passe'), 'correct horse');
    await user.click(screen.getByRole('button', { name: 'Se connecter' }));
    expect(await screen.findByRole('textbox', { name: 'Votre message' })).toHaveValue(draft);
    expect(backend.callsOf('login')).toHaveLength(1);
  });

  it('goes back to login when a command reports SESSION_EXPIRED', async () => {
    start({
      resume_session: { value: signedIn(patientUser) },
      list_contexts: () => {
        throw commandError('SESSION_EXPIRED');
      },
    });
    expect(await screen.findByRole('heading', { name: 'Connexion' })).toBeInTheDocument();
    expect(screen.getByRole('status')).toHaveTextContent('Votre session a expiré');
  });

  it('logs out with the header button, and forgets drafts', async () => {
    const { user, backend } = start({ resume_session: { value: signedIn(patientUser) }, login: { value: patientUser } });
    await user.click(await screen.findByRole('button', { name: /Questions sur l'ordonnance/ }));
    await user.type(await screen.findByRole('textbox', { name: 'Votre message' }), 'brouillon à oublier');
    await user.keyboard('{Escape}');
    await user.click(screen.getByRole('button', { name: 'Se déconnecter' }));
    expect(await screen.findByRole('heading', { name: 'Connexion' })).toBeInTheDocument();
    expect(backend.callsOf('logout')).toHaveLength(1);

    expect(screen.getByLabelText('Identifiant')).toHaveValue('camille.durand');
    await user.type(screen.getByLabelText('Mot de passe'), 'correct horse');
    await user.click(screen.getByRole('button', { name: 'Se connecter' }));
    // No conversation reopens by itself after an explicit logout, and the draft is gone.
    await screen.findByRole('heading', { name: 'Mon DMP' });
    expect(screen.queryByRole('dialog')).not.toBeInTheDocument();
    expect(screen.queryByText('Brouillon')).not.toBeInTheDocument();
    await user.click(await screen.findByRole('button', { name: /Questions sur l'ordonnance/ }));
    expect(await screen.findByRole('textbox', { name: 'Votre message' })).toHaveValue('');
  });

  it('says the account was disabled on dmp://session-expired {reason: disabled}, not "session expirée"', async () => {
    start({ resume_session: { value: signedIn(patientUser) } });
    await screen.findByRole('heading', { name: 'Mon DMP' });
    await emitEvent('dmp://session-expired', { reason: 'disabled' });
    expect(await screen.findByRole('heading', { name: 'Connexion' })).toBeInTheDocument();
    expect(screen.getByTestId('account-disabled')).toHaveTextContent('Ce compte a été désactivé.');
    expect(screen.queryByText(/session a expiré/)).not.toBeInTheDocument();
  });

  it('says the account was disabled when a command reports ACCOUNT_DISABLED', async () => {
    start({
      resume_session: { value: signedIn(patientUser) },
      list_contexts: () => {
        throw commandError('ACCOUNT_DISABLED');
      },
    });
    expect(await screen.findByTestId('account-disabled')).toBeInTheDocument();
  });
});

describe('offline reading (resume_session → readOnly)', () => {
  it('shows the read-only banner and a disabled composer, both cleared on dmp://connection {readOnly: false}', async () => {
    const { user, backend } = start({
      resume_session: { value: signedIn(patientUser, true) },
      load_history: { value: historyPage([makeMessage({ id: 'msg_unread', from: doctor, status: 'delivered', content: 'Résultats reçus' })]) },
    });
    const banner = await screen.findByTestId('offline-banner');
    expect(banner).toHaveTextContent('Serveur injoignable — consultation hors ligne, nouvelle tentative…');
    await user.click(await screen.findByRole('button', { name: /Questions sur l'ordonnance/ }));
    const dialog = await screen.findByRole('dialog');
    expect(within(dialog).getByRole('textbox', { name: 'Votre message' })).toBeDisabled();
    expect(within(dialog).getByText('Consultation hors ligne : vous pourrez écrire dès que le serveur sera joignable.')).toBeInTheDocument();
    expect(backend.callsOf('get_limits')).toHaveLength(1);

    // Nothing is marked read while the session is read-only…
    await new Promise((r) => setTimeout(r, 400));
    expect(backend.callsOf('mark_read')).toEqual([]);

    await emitEvent('dmp://connection', { state: 'connected', readOnly: false });
    expect(screen.queryByTestId('offline-banner')).not.toBeInTheDocument();
    // …and what was seen is sent once it is not.
    await waitFor(() => expect(backend.callsOf('mark_read')).toEqual([{ messageIds: ['msg_unread'] }]));
    expect(within(dialog).getByRole('textbox', { name: 'Votre message' })).toBeEnabled();
    // The limits the server announces are asked again once really signed in.
    await waitFor(() => expect(backend.callsOf('get_limits')).toHaveLength(2));
  });
});
