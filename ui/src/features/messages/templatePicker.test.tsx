/**
 * The doctor's reply templates in the composer (docs/messaging.md, "Reply templates"):
 * `/` in an empty draft or the "Modèles" button opens a listbox of the templates
 * (`list_templates`, read once), the keyboard moves and picks, the pick is rendered by
 * Rust (`render_template`) for the record and replaces the `/…` typed, focus stays in
 * the textarea, and nothing is sent. A patient has neither the button nor the picker.
 */
import { act, screen, waitFor, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { describe, expect, it, vi } from 'vitest';
import type { ContextSummary, Language, ReplyTemplate, User } from '../../api';
import { translate } from '../../i18n';
import { commandError, deferred, mockBackend, type Handlers } from '../../test/ipc';
import { doctorUser, historyPage, ordonnance, patientUser } from '../../test/fixtures';
import { renderWithProviders } from '../../test/render';
import { SettingsPanel } from '../settings/SettingsPanel';
import { filterTemplates, validateTemplate } from '../templates/templates';
import { SecureMessaging } from './SecureMessaging';

const fr = (key: Parameters<typeof translate>[1], params?: Parameters<typeof translate>[2]) => translate('fr', key, params);

const TEMPLATES: ReplyTemplate[] = [
  { id: 'tpl_1', title: 'Résultats normaux', text: 'Bonjour {prenom}, vos résultats ({document}) sont normaux.' },
  { id: 'tpl_2', title: 'Rendez-vous', text: 'Merci de prendre rendez-vous au cabinet.' },
  { id: 'tpl_3', title: 'Résumé de consultation', text: 'Voici le résumé de notre consultation, {nom}.' },
];

/** What Rust answers: the placeholders filled in for the ordonnance's patient (here only to tell texts apart). */
function rendered(args: Record<string, unknown>): string {
  const { template } = args as { template: ReplyTemplate };
  return template.text
    .replace('{prenom}', 'Camille')
    .replace('{nom}', 'Camille Durand')
    .replace('{document}', ordonnance.title);
}

type Setup = { me?: User; context?: ContextSummary; handlers?: Handlers; language?: Language };

async function openConversation({ me = doctorUser, context = ordonnance, handlers = {}, language = 'fr' }: Setup = {}) {
  const backend = mockBackend({
    load_history: { value: historyPage([]) },
    get_settings: { value: { language, notificationPreview: true } },
    list_templates: { value: TEMPLATES },
    render_template: rendered,
    ...handlers,
  });
  const onClose = vi.fn();
  const user = userEvent.setup();
  renderWithProviders(<SecureMessaging context={context} me={me} onClose={onClose} />, { language });
  await waitFor(() => expect(screen.queryByText(translate(language, 'messages.loading'))).not.toBeInTheDocument());
  return { backend, onClose, user };
}

const composer = () => screen.getByRole('textbox', { name: fr('composer.label') }) as HTMLTextAreaElement;
const picker = () => screen.queryByTestId('template-picker');
const listbox = () => screen.findByRole('listbox', { name: 'Modèles de réponse' });
const optionNames = (list: HTMLElement) => within(list).getAllByRole('option').map((o) => o.querySelector('span')?.textContent);

describe('the template picker of a doctor', () => {
  it('opens on `/`, filters by title, moves with the arrows and inserts the rendered template on Enter', async () => {
    const { backend, user } = await openConversation();
    await user.click(composer());
    await user.type(composer(), '/res');

    const list = await listbox();
    // "res" matches "Résultats…" and "Résumé…" (accents and case ignored), not "Rendez-vous".
    expect(optionNames(list)).toEqual(['Résultats normaux', 'Résumé de consultation']);
    const options = within(list).getAllByRole('option');
    expect(options[0]).toHaveAttribute('aria-selected', 'true');
    expect(options[1]).toHaveAttribute('aria-selected', 'false');
    // Focus stays in the textarea, which points at the active option.
    expect(composer()).toHaveFocus();
    expect(composer()).toHaveAttribute('aria-controls', list.id);
    expect(composer()).toHaveAttribute('aria-activedescendant', options[0]!.id);
    // The preview of each template is shown on one line.
    expect(options[1]).toHaveTextContent('Voici le résumé de notre consultation, {nom}.');

    await user.keyboard('{ArrowDown}');
    expect(options[1]).toHaveAttribute('aria-selected', 'true');
    expect(options[0]).toHaveAttribute('aria-selected', 'false');
    expect(composer()).toHaveAttribute('aria-activedescendant', options[1]!.id);

    await user.keyboard('{Enter}');
    await waitFor(() =>
      expect(backend.callsOf('render_template')).toEqual([{ contextType: 'ordonnance', contextId: 'ord_789', template: TEMPLATES[2] }]),
    );
    await waitFor(() => expect(composer()).toHaveValue('Voici le résumé de notre consultation, Camille Durand.'));
    expect(composer()).toHaveFocus();
    expect(picker()).not.toBeInTheDocument();
    expect(composer()).not.toHaveAttribute('aria-activedescendant');
    // Nothing is sent: the doctor reads and changes it first.
    expect(backend.callsOf('send_message')).toEqual([]);
    expect(backend.callsOf('list_templates')).toEqual([{}]);
  });

  it('matches without accents nor case, picks with Tab, and wraps around with ArrowUp', async () => {
    const { backend, user } = await openConversation();
    await user.click(composer());
    await user.type(composer(), '/RESU');
    const list = await listbox();
    expect(optionNames(list)).toEqual(['Résultats normaux', 'Résumé de consultation']);
    // Up from the first goes to the last.
    await user.keyboard('{ArrowUp}');
    expect(within(list).getAllByRole('option')[1]).toHaveAttribute('aria-selected', 'true');
    await user.keyboard('{ArrowUp}{Tab}');
    await waitFor(() => expect(composer()).toHaveValue(`Bonjour Camille, vos résultats (${ordonnance.title}) sont normaux.`));
    expect(backend.callsOf('render_template')).toEqual([{ contextType: 'ordonnance', contextId: 'ord_789', template: TEMPLATES[0] }]);
    expect(composer()).toHaveFocus();
  });

  it('closes on Escape and leaves the draft as typed, without closing the conversation', async () => {
    const { backend, onClose, user } = await openConversation();
    await user.click(composer());
    await user.type(composer(), '/ren');
    await listbox();
    await user.keyboard('{Escape}');
    expect(picker()).not.toBeInTheDocument();
    expect(composer()).toHaveValue('/ren');
    expect(composer()).toHaveFocus();
    expect(onClose).not.toHaveBeenCalled();
    expect(backend.callsOf('render_template')).toEqual([]);
    // Typing on does not open it again: only `/` in an empty draft does.
    await user.type(composer(), 'dez');
    expect(picker()).not.toBeInTheDocument();
  });

  it('never sends on Enter while it is open, even when nothing matches', async () => {
    const { backend, user } = await openConversation({ handlers: { send_message: () => Promise.reject(commandError('INTERNAL')) } });
    await user.click(composer());
    await user.type(composer(), '/ordonnance');
    expect(await screen.findByText('Aucun modèle ne correspond à « ordonnance ».')).toBeInTheDocument();
    expect(screen.queryByRole('listbox')).not.toBeInTheDocument();
    await user.keyboard('{Enter}');
    expect(backend.callsOf('send_message')).toEqual([]);
    expect(backend.callsOf('render_template')).toEqual([]);
    expect(composer()).toHaveValue('/ordonnance');
  });

  it('closes when the `/` is deleted', async () => {
    const { user } = await openConversation();
    await user.click(composer());
    await user.type(composer(), '/r');
    await listbox();
    await user.keyboard('{Backspace}{Backspace}');
    expect(picker()).not.toBeInTheDocument();
  });

  it('is opened by the "Modèles" button with every template, for the mouse', async () => {
    const { backend, user } = await openConversation();
    const button = screen.getByRole('button', { name: 'Modèles' });
    expect(button).toHaveAttribute('aria-haspopup', 'listbox');
    expect(button).toHaveAttribute('aria-expanded', 'false');
    await user.click(button);

    const list = await listbox();
    expect(button).toHaveAttribute('aria-expanded', 'true');
    expect(optionNames(list)).toEqual(['Résultats normaux', 'Rendez-vous', 'Résumé de consultation']);
    await user.click(within(list).getAllByRole('option')[1]!);

    await waitFor(() => expect(composer()).toHaveValue('Merci de prendre rendez-vous au cabinet.'));
    expect(backend.callsOf('render_template')).toEqual([{ contextType: 'ordonnance', contextId: 'ord_789', template: TEMPLATES[1] }]);
    expect(composer()).toHaveFocus();
    expect(picker()).not.toBeInTheDocument();
    expect(backend.callsOf('send_message')).toEqual([]);
  });

  it('from the button, takes the keyboard on its listbox, inserts at the caret, and gives focus back on Escape', async () => {
    const { user } = await openConversation();
    await user.type(composer(), 'Bonjour. ');
    const button = screen.getByRole('button', { name: 'Modèles' });
    await user.click(button);
    const list = await listbox();
    await waitFor(() => expect(list).toHaveFocus());
    expect(list).toHaveAttribute('aria-activedescendant', within(list).getAllByRole('option')[0]!.id);

    await user.keyboard('{Escape}');
    expect(picker()).not.toBeInTheDocument();
    expect(button).toHaveFocus();

    await user.click(button);
    await waitFor(async () => expect(await listbox()).toHaveFocus());
    await user.keyboard('{ArrowDown}{Enter}');
    // What was typed stays; the template goes where the caret was (the end).
    await waitFor(() => expect(composer()).toHaveValue('Bonjour. Merci de prendre rendez-vous au cabinet.'));
    expect(composer()).toHaveFocus();
  });

  it('reads the templates once, when it first opens', async () => {
    const { backend, user } = await openConversation();
    expect(backend.callsOf('list_templates')).toEqual([]);
    await user.click(composer());
    await user.type(composer(), '/');
    await listbox();
    await user.keyboard('{Escape}{Backspace}/');
    await listbox();
    expect(backend.callsOf('list_templates')).toEqual([{}]);
  });

  it('shows where to create templates when there are none', async () => {
    await openConversation({ handlers: { list_templates: { value: [] } } });
    const user = userEvent.setup();
    await user.click(composer());
    await user.type(composer(), '/');
    expect(await screen.findByText('Aucun modèle. Créez-en dans Paramètres › Modèles de réponse.')).toBeInTheDocument();
    expect(screen.queryByRole('listbox')).not.toBeInTheDocument();
  });

  it('says so in English', async () => {
    const { user } = await openConversation({ language: 'en', handlers: { list_templates: { value: [] } } });
    await user.click(screen.getByRole('button', { name: 'Templates' }));
    expect(await screen.findByText('No templates. Create some in Settings › Reply templates.')).toBeInTheDocument();
  });

  it('keeps the draft and says why when the template cannot be rendered', async () => {
    const { user } = await openConversation({
      handlers: {
        render_template: () => {
          throw commandError('NOT_FOUND', 'no such record');
        },
      },
    });
    await user.click(composer());
    await user.type(composer(), '/rdv');
    await user.clear(composer());
    await user.type(composer(), '/rendez');
    await listbox();
    await user.keyboard('{Enter}');
    expect(await screen.findByRole('alert')).toHaveTextContent(`Le modèle n’a pas pu être inséré. ${fr('error.notFound')}`);
    expect(composer()).toHaveValue('/rendez');
    expect(composer()).toHaveFocus();
  });

  it('does not send while the template is being rendered', async () => {
    const render = deferred<string>();
    const { backend, user } = await openConversation({ handlers: { render_template: () => render.promise } });
    await user.click(composer());
    await user.type(composer(), '/rendez');
    await listbox();
    await user.keyboard('{Enter}');
    await waitFor(() => expect(backend.callsOf('render_template')).toHaveLength(1));
    // A second Enter, before Rust answered, does not send the `/…`.
    await user.keyboard('{Enter}');
    expect(backend.callsOf('send_message')).toEqual([]);
    await act(async () => render.resolve('Merci de venir au cabinet.'));
    await waitFor(() => expect(composer()).toHaveValue('Merci de venir au cabinet.'));
  });

  it('offers a template saved in the settings without reading the list again', async () => {
    const saved: ReplyTemplate = { id: 'tpl_4', title: 'Ordonnance renouvelée', text: 'Votre ordonnance est renouvelée.' };
    const backend = mockBackend({
      load_history: { value: historyPage([]) },
      list_templates: { value: TEMPLATES },
      save_template: { value: [...TEMPLATES, saved] },
      render_template: rendered,
    });
    const user = userEvent.setup();
    renderWithProviders(
      <>
        <SecureMessaging context={ordonnance} me={doctorUser} onClose={vi.fn()} />
        <SettingsPanel user={doctorUser} peers={[]} onClose={vi.fn()} />
      </>,
    );
    const section = await screen.findByTestId('templates-section');
    await within(section).findByText('Rendez-vous');
    await user.click(within(section).getByRole('button', { name: 'Nouveau modèle' }));
    await user.type(within(section).getByLabelText('Titre'), saved.title);
    await user.type(within(section).getByLabelText('Texte'), saved.text);
    await user.click(within(section).getByRole('button', { name: 'Enregistrer le modèle' }));
    await within(section).findByText(saved.title);
    expect(backend.callsOf('list_templates')).toHaveLength(1);

    await user.click(composer());
    await user.type(composer(), '/ordo');
    const list = await listbox();
    expect(optionNames(list)).toEqual(['Ordonnance renouvelée']);
    expect(backend.callsOf('list_templates')).toHaveLength(1);
  });
});

describe('a patient', () => {
  it('has no templates: `/` is just a character and there is no button', async () => {
    const { backend, user } = await openConversation({ me: patientUser });
    expect(screen.queryByRole('button', { name: 'Modèles' })).not.toBeInTheDocument();
    await user.click(composer());
    await user.type(composer(), '/res');
    expect(composer()).toHaveValue('/res');
    expect(picker()).not.toBeInTheDocument();
    expect(screen.queryByRole('listbox')).not.toBeInTheDocument();
    expect(composer()).not.toHaveAttribute('aria-autocomplete');
    expect(backend.callsOf('list_templates')).toEqual([]);
  });
});

describe('templates, checked and searched as the server and the doctor expect', () => {
  it('trims, counts code points and refuses control characters in the title', () => {
    expect(validateTemplate({ title: '  Titre ', text: '\n Texte \n' }, '')).toEqual({ template: { id: '', title: 'Titre', text: 'Texte' } });
    expect(validateTemplate({ title: '😀'.repeat(80), text: 'a' }, 'tpl_1')).toEqual({ template: { id: 'tpl_1', title: '😀'.repeat(80), text: 'a' } });
    expect(validateTemplate({ title: 'a\tb', text: 'Ligne 1\n\tLigne 2' }, '')).toEqual({ errors: { title: 'templates.error.titleOneLine' } });
    expect(validateTemplate({ title: 'a', text: 'bip\u0007' }, '')).toEqual({ errors: { text: 'templates.error.textControl' } });
    expect(validateTemplate({ title: 'a', text: 'x'.repeat(2000) }, '')).toHaveProperty('template');
  });

  it('finds titles whatever the accents and the case', () => {
    expect(filterTemplates(TEMPLATES, 'resu').map((t) => t.id)).toEqual(['tpl_1', 'tpl_3']);
    expect(filterTemplates(TEMPLATES, 'RÉSULTATS').map((t) => t.id)).toEqual(['tpl_1']);
    expect(filterTemplates(TEMPLATES, '').map((t) => t.id)).toEqual(['tpl_1', 'tpl_2', 'tpl_3']);
    expect(filterTemplates(TEMPLATES, 'cabinet')).toEqual([]);
  });
});
