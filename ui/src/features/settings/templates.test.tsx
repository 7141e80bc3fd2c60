/**
 * The doctor's reply templates in the settings (docs/messaging.md, "Reply templates"):
 * the list read with `list_templates`, adding and changing one with `save_template`
 * (trimmed fields, an empty id for a new one), deleting one with `delete_template` after a
 * confirmation, the checks the server makes repeated in the form, the server's refusal
 * told by its code; and no such section for a patient.
 */
import { screen, waitFor, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { describe, expect, it, vi } from 'vitest';
import type { Language, ReplyTemplate, User } from '../../api';
import { translate } from '../../i18n';
import { commandError, mockBackend, type Handlers } from '../../test/ipc';
import { doctorUser, patientUser } from '../../test/fixtures';
import { renderWithProviders } from '../../test/render';
import { SettingsPanel } from './SettingsPanel';

const fr = (key: Parameters<typeof translate>[1], params?: Parameters<typeof translate>[2]) => translate('fr', key, params);

const TEMPLATES: ReplyTemplate[] = [
  { id: 'tpl_1', title: 'Résultats normaux', text: 'Bonjour {prenom},\nvos résultats ({document}) sont normaux.' },
  { id: 'tpl_2', title: 'Rendez-vous', text: 'Merci de prendre rendez-vous au cabinet.' },
];

type Setup = { me?: User; handlers?: Handlers; language?: Language };

async function openSettings({ me = doctorUser, handlers = {}, language = 'fr' }: Setup = {}) {
  const backend = mockBackend({
    get_settings: { value: { language, notificationPreview: true } },
    list_templates: { value: TEMPLATES },
    ...handlers,
  });
  const user = userEvent.setup();
  renderWithProviders(<SettingsPanel user={me} peers={[]} onClose={vi.fn()} />, { language });
  return { backend, user };
}

/** The templates section, once `list_templates` has answered. */
async function templatesSection() {
  const section = await screen.findByTestId('templates-section');
  await waitFor(() => expect(section).not.toHaveTextContent(fr('common.loading')));
  return section;
}

/** The server's answer to a save: the list with the template added or replaced. */
function savedList(args: Record<string, unknown>): ReplyTemplate[] {
  const { template } = args as { template: ReplyTemplate };
  if (template.id === '') return [...TEMPLATES, { ...template, id: 'tpl_new' }];
  return TEMPLATES.map((t) => (t.id === template.id ? template : t));
}

describe('the doctor’s reply templates in the settings', () => {
  it('lists the templates with a one-line preview, and says they are end-to-end encrypted', async () => {
    const { backend } = await openSettings();
    const section = await templatesSection();
    expect(within(section).getByRole('heading', { name: 'Modèles de réponse' })).toBeInTheDocument();
    expect(within(section).getByTestId('templates-privacy')).toHaveTextContent('Chiffrés de bout en bout : seuls vos appareils peuvent les lire.');
    expect(backend.callsOf('list_templates')).toEqual([{}]);

    const items = within(within(section).getByTestId('templates-list')).getAllByRole('listitem');
    expect(items).toHaveLength(2);
    expect(items[0]).toHaveTextContent('Résultats normaux');
    // The line break of the text is a space in the preview.
    expect(within(items[0]!).getByTestId('template-preview')).toHaveTextContent('Bonjour {prenom}, vos résultats ({document}) sont normaux.');
    expect(items[1]).toHaveTextContent('Rendez-vous');
    expect(within(items[1]!).getByRole('button', { name: 'Modifier « Rendez-vous »' })).toBeEnabled();
    expect(within(items[1]!).getByRole('button', { name: 'Supprimer « Rendez-vous »' })).toBeEnabled();
  });

  it('says when there is no template yet', async () => {
    await openSettings({ handlers: { list_templates: { value: [] } } });
    const section = await templatesSection();
    expect(section).toHaveTextContent('Vous n’avez encore aucun modèle.');
    expect(within(section).queryByTestId('templates-list')).not.toBeInTheDocument();
  });

  it('adds a template: an empty id and trimmed fields, then the list as saved', async () => {
    const { backend, user } = await openSettings({ handlers: { save_template: savedList } });
    const section = await templatesSection();
    await user.click(within(section).getByRole('button', { name: 'Nouveau modèle' }));
    const form = within(section).getByTestId('template-form');

    // The placeholders and their meaning, and the encryption note, go with the text.
    const placeholders = within(form).getByTestId('template-placeholders');
    expect(placeholders).toHaveTextContent('{prenom} le prénom du patient');
    expect(placeholders).toHaveTextContent('{nom} le nom complet du patient');
    expect(placeholders).toHaveTextContent('{document} le titre du document');
    const text = within(form).getByLabelText('Texte');
    expect(text).toHaveAccessibleDescription(expect.stringContaining(fr('templates.privacy')));

    await user.type(within(form).getByLabelText('Titre'), '  Rappel vaccin  ');
    // `{{` types one `{` with user-event.
    await user.type(text, '  Bonjour {{prenom}, pensez au rappel.  ');
    await user.click(within(form).getByRole('button', { name: 'Enregistrer le modèle' }));

    await waitFor(() =>
      expect(backend.callsOf('save_template')).toEqual([
        { template: { id: '', title: 'Rappel vaccin', text: 'Bonjour {prenom}, pensez au rappel.' } },
      ]),
    );
    expect(await within(section).findByText('Rappel vaccin')).toBeInTheDocument();
    expect(within(section).getAllByRole('listitem')).toHaveLength(3);
    expect(within(section).queryByTestId('template-form')).not.toBeInTheDocument();
    expect(within(section).getByRole('status')).toHaveTextContent('Modèle enregistré.');
  });

  it('changes a template: the form opens with its values and keeps its id', async () => {
    const { backend, user } = await openSettings({ handlers: { save_template: savedList } });
    const section = await templatesSection();
    await user.click(within(section).getByRole('button', { name: 'Modifier « Rendez-vous »' }));
    const form = within(section).getByTestId('template-form');
    expect(within(form).getByRole('heading', { name: 'Modifier le modèle' })).toBeInTheDocument();
    const title = within(form).getByLabelText('Titre');
    expect(title).toHaveValue('Rendez-vous');
    expect(within(form).getByLabelText('Texte')).toHaveValue('Merci de prendre rendez-vous au cabinet.');

    await user.clear(title);
    await user.type(title, 'Prendre rendez-vous');
    await user.click(within(form).getByRole('button', { name: 'Enregistrer le modèle' }));
    await waitFor(() =>
      expect(backend.callsOf('save_template')).toEqual([
        { template: { id: 'tpl_2', title: 'Prendre rendez-vous', text: 'Merci de prendre rendez-vous au cabinet.' } },
      ]),
    );
    expect(await within(section).findByText('Prendre rendez-vous')).toBeInTheDocument();
    expect(within(section).getAllByRole('listitem')).toHaveLength(2);
  });

  it('closes the form without saving on "Annuler"', async () => {
    const { backend, user } = await openSettings();
    const section = await templatesSection();
    await user.click(within(section).getByRole('button', { name: 'Modifier « Rendez-vous »' }));
    await user.click(within(section).getByRole('button', { name: 'Annuler' }));
    expect(within(section).queryByTestId('template-form')).not.toBeInTheDocument();
    expect(backend.callsOf('save_template')).toEqual([]);
  });

  it('deletes a template only once the doctor confirms', async () => {
    const { backend, user } = await openSettings({ handlers: { delete_template: { value: [TEMPLATES[0]!] } } });
    const section = await templatesSection();

    await user.click(within(section).getByRole('button', { name: 'Supprimer « Rendez-vous »' }));
    let dialog = await screen.findByRole('alertdialog', { name: 'Supprimer ce modèle ?' });
    expect(dialog).toHaveAccessibleDescription('« Rendez-vous » sera supprimé de tous vos appareils.');
    // Focus starts on the safe choice.
    expect(within(dialog).getByRole('button', { name: 'Annuler' })).toHaveFocus();
    await user.click(within(dialog).getByRole('button', { name: 'Annuler' }));
    expect(screen.queryByRole('alertdialog')).not.toBeInTheDocument();
    expect(backend.callsOf('delete_template')).toEqual([]);

    await user.click(within(section).getByRole('button', { name: 'Supprimer « Rendez-vous »' }));
    dialog = await screen.findByRole('alertdialog', { name: 'Supprimer ce modèle ?' });
    await user.click(within(dialog).getByRole('button', { name: 'Supprimer' }));
    await waitFor(() => expect(backend.callsOf('delete_template')).toEqual([{ templateId: 'tpl_2' }]));
    await waitFor(() => expect(within(section).queryByText('Rendez-vous')).not.toBeInTheDocument());
    expect(within(section).getAllByRole('listitem')).toHaveLength(1);
    expect(within(section).getByRole('status')).toHaveTextContent('Modèle supprimé.');
    // The settings dialog is still open.
    expect(screen.getByRole('dialog', { name: fr('settings.title') })).toBeInTheDocument();
  });

  it('checks the title and the text as the server would, before sending anything', async () => {
    const { backend, user } = await openSettings();
    const section = await templatesSection();
    await user.click(within(section).getByRole('button', { name: 'Nouveau modèle' }));
    const form = within(section).getByTestId('template-form');
    const title = within(form).getByLabelText('Titre');
    const text = within(form).getByLabelText('Texte');
    const save = within(form).getByRole('button', { name: 'Enregistrer le modèle' });

    // Blank fields (spaces only count as nothing).
    await user.type(title, '   ');
    await user.click(save);
    expect(within(form).getByTestId('template-error-title')).toHaveTextContent('Donnez un titre au modèle.');
    expect(within(form).getByTestId('template-error-title')).toHaveAttribute('role', 'alert');
    expect(within(form).getByTestId('template-error-text')).toHaveTextContent('Écrivez le texte du modèle.');
    expect(title).toHaveAttribute('aria-invalid', 'true');
    expect(title).toHaveAccessibleDescription('Donnez un titre au modèle.');
    expect(title).toHaveFocus();

    // Too long: 81 characters of title, 2001 of text.
    await user.clear(title);
    await user.click(title);
    await user.paste('T'.repeat(81));
    await user.click(text);
    await user.paste('x'.repeat(2001));
    expect(within(form).getByTestId('template-counter')).toHaveTextContent('2 001 / 2 000');
    await user.click(save);
    expect(within(form).getByTestId('template-error-title')).toHaveTextContent('Le titre ne doit pas dépasser 80 caractères.');
    expect(within(form).getByTestId('template-error-text')).toHaveTextContent('Le texte ne doit pas dépasser 2 000 caractères.');
    expect(backend.callsOf('save_template')).toEqual([]);
  });

  it('explains a refusal of the server by its code, never by its internal message', async () => {
    const { backend, user } = await openSettings({
      handlers: {
        save_template: () => {
          throw commandError('VALIDATION_FAILED', 'a template title has 1 to 80 characters');
        },
      },
    });
    const section = await templatesSection();
    await user.click(within(section).getByRole('button', { name: 'Nouveau modèle' }));
    await user.type(within(section).getByLabelText('Titre'), 'Résultats');
    await user.type(within(section).getByLabelText('Texte'), 'Vos résultats sont normaux.');
    await user.click(within(section).getByRole('button', { name: 'Enregistrer le modèle' }));

    const alert = await within(section).findByRole('alert');
    expect(alert).toHaveTextContent(
      'Modèle non enregistré. Le serveur a refusé ce modèle : un titre d’une ligne de 1 à 80 caractères, un texte de 1 à 2 000 caractères, 100 modèles au plus.',
    );
    expect(section).not.toHaveTextContent('a template title has 1 to 80 characters');
    // The form stays open with what the doctor typed.
    expect(within(section).getByLabelText('Titre')).toHaveValue('Résultats');
    expect(backend.callsOf('save_template')).toHaveLength(1);

    backend.on('save_template', () => {
      throw commandError('NETWORK_UNAVAILABLE');
    });
    await user.click(within(section).getByRole('button', { name: 'Enregistrer le modèle' }));
    await waitFor(() =>
      expect(within(section).getByRole('alert')).toHaveTextContent(
        'Modèle non enregistré. Serveur injoignable : réessayez dès le retour de la connexion.',
      ),
    );
  });

  it('tells when the list cannot be read, and reads it again on "Réessayer"', async () => {
    const { backend, user } = await openSettings({
      handlers: {
        list_templates: () => {
          throw commandError('OFFLINE_READ_ONLY');
        },
      },
    });
    const section = await screen.findByTestId('templates-section');
    const alert = await within(section).findByRole('alert');
    expect(alert).toHaveTextContent(`Impossible de lire vos modèles. ${fr('error.offlineReadOnly')}`);
    backend.on('list_templates', { value: TEMPLATES });
    await user.click(within(alert).getByRole('button', { name: 'Réessayer' }));
    expect(await within(section).findByText('Résultats normaux')).toBeInTheDocument();
    expect(within(section).queryByRole('alert')).not.toBeInTheDocument();
  });

  it('allows no new template beyond 100', async () => {
    const many = Array.from({ length: 100 }, (_, i) => ({ id: `tpl_${i}`, title: `Modèle ${i}`, text: 'Texte' }));
    await openSettings({ handlers: { list_templates: { value: many } } });
    const section = await templatesSection();
    const add = within(section).getByRole('button', { name: 'Nouveau modèle' });
    expect(add).toBeDisabled();
    expect(add).toHaveAccessibleDescription('Vous avez atteint 100 modèles : supprimez-en un pour en créer un autre.');
  });

  it('is in English too', async () => {
    await openSettings({ language: 'en' });
    const section = await templatesSection();
    expect(within(section).getByRole('heading', { name: 'Reply templates' })).toBeInTheDocument();
    expect(section).toHaveTextContent('End-to-end encrypted: only your devices can read them.');
    expect(within(section).getByRole('button', { name: 'Edit “Rendez-vous”' })).toBeInTheDocument();
  });

  it('is not shown to a patient, who has no templates', async () => {
    const { backend } = await openSettings({ me: patientUser });
    await screen.findByRole('dialog', { name: fr('settings.title') });
    expect(screen.queryByTestId('templates-section')).not.toBeInTheDocument();
    expect(screen.queryByText('Modèles de réponse')).not.toBeInTheDocument();
    expect(backend.callsOf('list_templates')).toEqual([]);
  });
});
