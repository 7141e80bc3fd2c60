import { fireEvent, screen, waitFor, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { describe, expect, it, vi } from 'vitest';
import type { Attachment } from '../../api';
import { commandError, mockBackend, type Handlers } from '../../test/ipc';
import { doctor, historyPage, makeMessage, ordonnance, patientUser, localMessage } from '../../test/fixtures';
import { renderWithProviders } from '../../test/render';
import { SecureMessaging } from '../messages/SecureMessaging';
import { DEFAULT_LIMITS, validateFiles } from './validation';

const MB = 1024 * 1024;

function file(name: string, type: string, size?: number, content = 'contenu'): File {
  const f = new File([content], name, { type });
  if (size !== undefined) Object.defineProperty(f, 'size', { value: size });
  return f;
}

describe('validateFiles', () => {
  it('accepts pdf, jpg/jpeg, png, doc, docx up to 10 MB', () => {
    const files = [
      file('ordonnance.pdf', 'application/pdf', 2 * MB),
      file('photo.JPEG', 'image/jpeg', MB),
      file('plaie.png', 'image/png', 10 * MB),
      file('courrier.doc', 'application/msword', 1000),
      file('compte-rendu.docx', '', 1000),
    ];
    expect(validateFiles(files, 0, DEFAULT_LIMITS)).toEqual({ accepted: files, rejections: [] });
  });

  it('rejects wrong types (by name and by MIME), oversize and empty files, by name', () => {
    const { accepted, rejections } = validateFiles(
      [
        file('setup.exe', 'application/x-msdownload', 1000),
        file('faux.pdf', 'text/html', 1000),
        file('scanner.pdf', 'application/pdf', 10 * MB + 1),
        file('vide.png', 'image/png', 0),
        file('ok.pdf', 'application/pdf', 1000),
      ],
      0,
      DEFAULT_LIMITS,
    );
    expect(accepted.map((f) => f.name)).toEqual(['ok.pdf']);
    expect(rejections).toEqual([
      { reason: 'type', name: 'setup.exe' },
      { reason: 'type', name: 'faux.pdf' },
      { reason: 'size', name: 'scanner.pdf' },
      { reason: 'empty', name: 'vide.png' },
    ]);
  });

  it('refuses a batch that would exceed 5 attachments, counting those already attached', () => {
    const two = [file('a.pdf', 'application/pdf', 10), file('b.pdf', 'application/pdf', 10)];
    expect(validateFiles(two, 3, DEFAULT_LIMITS).accepted).toHaveLength(2);
    expect(validateFiles(two, 4, DEFAULT_LIMITS)).toEqual({ accepted: [], rejections: [{ reason: 'count', max: 5 }] });
  });
});

const uploaded: Attachment = {
  id: 'att_1',
  name: 'eruption.png',
  mimeType: 'image/png',
  size: 7,
  sha256: 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855',
};

async function open(handlers: Handlers = {}, messages = [makeMessage({ content: 'Bonjour' })]) {
  const backend = mockBackend({
    load_history: { value: historyPage(messages) },
    // The file crosses IPC raw: the body is the bytes (the name travels in a header).
    upload_attachment: (args) => {
      const body = new TextDecoder().decode(args as unknown as Uint8Array);
      const name = body === 'pixels' ? 'eruption.png' : body === 'pdf' ? 'notice.pdf' : 'document.pdf';
      return { ...uploaded, id: name === uploaded.name ? uploaded.id : `att_${name}`, name, mimeType: name.endsWith('.png') ? 'image/png' : 'application/pdf' };
    },
    attachment_preview: { value: new Uint8Array([0x89, 0x50, 0x4e, 0x47]).buffer },
    ...handlers,
  });
  const user = userEvent.setup({ applyAccept: false });
  renderWithProviders(<SecureMessaging context={ordonnance} me={patientUser} onClose={vi.fn()} />);
  await screen.findByText(messages[0]!.content);
  return { backend, user, input: screen.getByTestId('file-input') as HTMLInputElement };
}

describe('attachments in the conversation', () => {
  it('refuses a wrong file type before any upload', async () => {
    const { backend, user, input } = await open();
    await user.upload(input, file('facture.exe', 'application/x-msdownload'));
    expect(screen.getByRole('alert')).toHaveTextContent('« facture.exe » : type de fichier non autorisé (formats acceptés : PDF, JPG, PNG, WEBP, DOC, DOCX, OGG, WEBM, MP3, M4A, WAV).');
    expect(backend.callsOf('upload_attachment')).toHaveLength(0);
  });

  it('refuses a file over 10 MB before any upload', async () => {
    const { backend, user, input } = await open();
    await user.upload(input, file('irm.pdf', 'application/pdf', 12 * MB));
    expect(screen.getByRole('alert')).toHaveTextContent('« irm.pdf » dépasse la taille maximale de 10 Mo.');
    expect(backend.callsOf('upload_attachment')).toHaveLength(0);
  });

  it('refuses more than 5 files before any upload', async () => {
    const { backend, user, input } = await open();
    const six = Array.from({ length: 6 }, (_, i) => file(`analyse-${i + 1}.pdf`, 'application/pdf', 100));
    await user.upload(input, six);
    expect(screen.getByRole('alert')).toHaveTextContent('5 pièces jointes maximum par message.');
    expect(backend.callsOf('upload_attachment')).toHaveLength(0);
  });

  it('uploads a valid image, shows its preview, can remove it, and sends the uploaded ids', async () => {
    const { backend, user, input } = await open({ send_message: { value: localMessage('cm-att', '') } });
    await user.upload(input, [file('eruption.png', 'image/png', undefined, 'pixels'), file('notice.pdf', 'application/pdf', undefined, 'pdf')]);
    await waitFor(() => expect(backend.callsOf('upload_attachment')).toHaveLength(2));
    expect(new TextDecoder().decode(backend.callsOf('upload_attachment')[0] as unknown as Uint8Array)).toBe('pixels');
    const preview = await screen.findByRole('img', { name: 'Aperçu de eruption.png' });
    expect(preview.getAttribute('src')).toMatch(/^blob:/);
    expect(backend.callsOf('attachment_preview')).toEqual([{ attachmentId: 'att_1' }]);

    await user.click(screen.getByRole('button', { name: 'Retirer notice.pdf' }));
    expect(within(screen.getByRole('list', { name: 'Pièces jointes' })).getAllByRole('listitem')).toHaveLength(1);
    await user.click(screen.getByRole('button', { name: 'Envoyer' }));
    await waitFor(() => expect(backend.callsOf('send_message')).toHaveLength(1));
    expect(backend.callsOf('send_message')[0]).toMatchObject({ attachmentIds: ['att_1'], content: '' });
  });

  it('gives the uploaded files back when the send is refused before being queued', async () => {
    const { backend, user, input } = await open({
      send_message: () => {
        throw commandError('OFFLINE_READ_ONLY');
      },
    });
    await user.upload(input, [file('notice.pdf', 'application/pdf', undefined, 'pdf')]);
    await waitFor(() => expect(backend.callsOf('upload_attachment')).toHaveLength(1));
    await screen.findByRole('button', { name: 'Retirer notice.pdf' });
    await user.click(screen.getByRole('button', { name: 'Envoyer' }));
    await waitFor(() => expect(backend.callsOf('send_message')).toHaveLength(1));
    expect(await screen.findByRole('button', { name: 'Retirer notice.pdf' })).toBeInTheDocument();
    expect(screen.getByRole('button', { name: 'Envoyer' })).toBeEnabled();
  });

  it('accepts files dropped on the conversation, with the same checks', async () => {
    const { backend } = await open();
    const dialog = screen.getByTestId('secure-messaging');
    const dataTransfer = { types: ['Files'], files: [file('resultats.pdf', 'application/pdf')], dropEffect: 'none' };
    fireEvent.dragEnter(dialog, { dataTransfer });
    expect(screen.getByText('Déposez vos fichiers ici')).toBeInTheDocument();
    fireEvent.drop(dialog, { dataTransfer });
    await waitFor(() => expect(backend.callsOf('upload_attachment')).toHaveLength(1));
    expect(screen.queryByText('Déposez vos fichiers ici')).not.toBeInTheDocument();

    fireEvent.drop(dialog, { dataTransfer: { types: ['Files'], files: [file('virus.bat', 'application/x-bat')] } });
    expect(screen.getByRole('alert')).toHaveTextContent('« virus.bat » : type de fichier non autorisé');
    expect(backend.callsOf('upload_attachment')).toHaveLength(1);
  });

  it('downloads a received attachment and shows where it was saved', async () => {
    const report: Attachment = { id: 'att_cr', name: 'compte-rendu.pdf', mimeType: 'application/pdf', size: 248_000, sha256: 'ab' };
    const { backend, user } = await open({ download_attachment: { value: '/home/camille/Téléchargements/compte-rendu.pdf' } }, [
      makeMessage({ from: doctor, content: 'Voici le compte rendu', attachments: [report] }),
    ]);
    expect(screen.getByText('242,2 Ko')).toBeInTheDocument();
    await user.click(screen.getByRole('button', { name: 'Télécharger compte-rendu.pdf' }));
    expect(await screen.findByText('Fichier enregistré : /home/camille/Téléchargements/compte-rendu.pdf')).toBeInTheDocument();
    expect(backend.callsOf('download_attachment')).toEqual([{ attachmentId: 'att_cr', name: 'compte-rendu.pdf' }]);
    expect(backend.callsOf('attachment_preview')).toHaveLength(0);
  });
});
