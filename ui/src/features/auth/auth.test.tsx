import { render, screen } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { afterEach, describe, expect, it } from 'vitest';
import { App } from '../../app/App';
import { commandError, emitEvent, mockBackend, type Handler } from '../../test/ipc';
import { examen, historyPage, ordonnance, patientUser } from '../../test/fixtures';

function start(handlers: Record<string, Handler> = {}) {
  const backend = mockBackend({
    list_contexts: { value: [ordonnance, examen] },
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
  afterEach(() => localStorage.removeItem('dmp.login.server'));

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

  it('passes the CA file of the advanced options and remembers it with the server address', async () => {
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
    expect(JSON.parse(localStorage.getItem('dmp.login.server') ?? 'null')).toEqual({
      server: 'https://dmp.example.fr:8443',
      caFile: '/srv/dmp/tls/ca.pem',
    });
  });

  it('opens with the server address and CA file of the last sign-in', async () => {
    localStorage.setItem('dmp.login.server', JSON.stringify({ server: 'https://dmp.example.fr', caFile: '/etc/dmp/ca.pem' }));
    start();
    expect(await screen.findByLabelText('Adresse du serveur')).toHaveValue('https://dmp.example.fr');
    expect(screen.getByLabelText('Certificat de l’autorité (fichier CA, PEM)')).toHaveValue('/etc/dmp/ca.pem');
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
    start({ resume_session: { value: patientUser } });
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
    const { user, backend } = start({ resume_session: { value: patientUser }, login: { value: patientUser } });
    await user.click(await screen.findByRole('button', { name: /Questions sur l'ordonnance/ }));
    const draft = 'Je voulais savoir si je peux prendre du paracétamol';
    await user.type(await screen.findByRole('textbox', { name: 'Votre message' }), draft);

    await emitEvent('dmp://session-expired', null);
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
      resume_session: { value: patientUser },
      list_contexts: () => {
        throw commandError('SESSION_EXPIRED');
      },
    });
    expect(await screen.findByRole('heading', { name: 'Connexion' })).toBeInTheDocument();
    expect(screen.getByRole('status')).toHaveTextContent('Votre session a expiré');
  });

  it('logs out with the header button, and forgets drafts', async () => {
    const { user, backend } = start({ resume_session: { value: patientUser }, login: { value: patientUser } });
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
    await user.click(screen.getByRole('button', { name: /Questions sur l'ordonnance/ }));
    expect(await screen.findByRole('textbox', { name: 'Votre message' })).toHaveValue('');
  });
});
