import { fireEvent, screen, waitFor } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { Attachment } from '../../api';
import { mockBackend } from '../../test/ipc';
import { renderWithProviders } from '../../test/render';
import { MediaAttachment } from './MediaAttachment';
import { VoiceRecorder } from './VoiceRecorder';
import { extensionFor, measureDuration } from './recording';
import { formatDuration } from './useMediaUrl';

// What the client core returns for an image sent with its thumbnail (client/src/media.rs).
const photo: Attachment = {
  id: 'att_photo',
  name: 'eruption-bras.png',
  mimeType: 'image/png',
  size: 2_400_000,
  sha256: 'ab'.repeat(32),
  thumbnailId: 'att_photo_thumb',
  width: 1200,
  height: 800,
};

// A voice message, duration measured by the sender's window.
const voice: Attachment = {
  id: 'att_voice',
  name: 'message-vocal-20250314T090000.ogg',
  mimeType: 'audio/ogg',
  size: 48_000,
  sha256: 'cd'.repeat(32),
  durationMs: 7400,
};

const pdf: Attachment = { id: 'att_pdf', name: 'bilan.pdf', mimeType: 'application/pdf', size: 9000, sha256: 'ef'.repeat(32) };

const JPEG = new Uint8Array([0xff, 0xd8, 0xff, 0xe0, 1, 2, 3]).buffer;
const PNG = new Uint8Array([0x89, 0x50, 0x4e, 0x47, 4, 5, 6]).buffer;
const OGG = new Uint8Array([0x4f, 0x67, 0x67, 0x53, 7, 8]).buffer;

let blobs: Blob[] = [];

/** An `<audio>` that cannot read the file (as jsdom, which loads no media). */
class SilentAudio {
  preload = '';
  onloadedmetadata: (() => void) | null = null;
  onerror: (() => void) | null = null;
  removeAttribute() {}
  set src(_url: string) {
    queueMicrotask(() => this.onerror?.());
  }
}

beforeEach(() => {
  blobs = [];
  // jsdom has no Blob URLs: record what the page would have shown.
  URL.createObjectURL = vi.fn((blob: Blob) => {
    blobs.push(blob);
    return `blob:dmp/${blobs.length}`;
  });
  URL.revokeObjectURL = vi.fn();
});

function renderAttachment(attachment: Attachment) {
  return renderWithProviders(<MediaAttachment attachment={attachment} own={false} onDownloaded={vi.fn()} onError={vi.fn()} />);
}

describe('images', () => {
  it('show the decrypted thumbnail at once from raw bytes, never a data URL', async () => {
    const backend = mockBackend({ attachment_thumbnail: { value: JPEG }, attachment_media: { value: PNG } });
    renderAttachment(photo);
    const thumb = await screen.findByAltText('Aperçu de eruption-bras.png');
    expect(thumb).toHaveAttribute('src', 'blob:dmp/1');
    expect(blobs[0]?.type).toBe('image/jpeg');
    expect(backend.callsOf('attachment_thumbnail')).toEqual([{ attachmentId: 'att_photo' }]);
    // The whole image is not fetched until asked for; no data URL command at all.
    expect(backend.callsOf('attachment_media')).toEqual([]);
    expect(backend.callsOf('attachment_preview')).toEqual([]);
    expect(screen.getByTestId('image-thumbnail')).toHaveStyle({ aspectRatio: '1200 / 800' });
  });

  it('fetch the full image on click, into a Blob URL with the image type, and close with Escape', async () => {
    const backend = mockBackend({ attachment_thumbnail: { value: JPEG }, attachment_media: { value: PNG } });
    renderAttachment(photo);
    await userEvent.click(screen.getByTestId('image-thumbnail'));
    const full = await screen.findByTestId('image-full');
    expect(full.getAttribute('src')).toMatch(/^blob:dmp\//);
    expect(blobs.at(-1)?.type).toBe('image/png');
    expect(backend.callsOf('attachment_media')).toEqual([{ attachmentId: 'att_photo' }]);
    fireEvent.keyDown(screen.getByRole('dialog'), { key: 'Escape' });
    await waitFor(() => expect(screen.queryByTestId('image-viewer')).not.toBeInTheDocument());
  });

  it('say so when the thumbnail cannot be opened', async () => {
    mockBackend({ attachment_thumbnail: () => Promise.reject({ code: 'E2E_BAD_SIGNATURE', message: 'x' }) });
    renderAttachment(photo);
    expect(await screen.findByText('Aperçu indisponible')).toBeInTheDocument();
  });

  it('leave other files to the download chip', () => {
    mockBackend();
    renderAttachment(pdf);
    expect(screen.queryByTestId('image-thumbnail')).not.toBeInTheDocument();
    expect(screen.queryByTestId('voice-player')).not.toBeInTheDocument();
    expect(screen.getByText('bilan.pdf')).toBeInTheDocument();
  });
});

describe('voice messages', () => {
  it('show their duration, and play inline from a Blob URL only when asked', async () => {
    const backend = mockBackend({ attachment_media: { value: OGG } });
    renderAttachment(voice);
    const player = screen.getByTestId('voice-player');
    expect(player).toHaveAttribute('data-duration-ms', '7400');
    expect(screen.getByTestId('voice-duration')).toHaveTextContent('0:07');
    expect(backend.callsOf('attachment_media')).toEqual([]);
    await userEvent.click(screen.getByRole('button', { name: 'Écouter le message vocal 0:07' }));
    await waitFor(() => expect(player.querySelector('audio')).toHaveAttribute('src', 'blob:dmp/1'));
    expect(blobs[0]?.type).toBe('audio/ogg');
    expect(backend.callsOf('attachment_media')).toEqual([{ attachmentId: 'att_voice' }]);
  });

  it('follow the language', () => {
    mockBackend();
    renderWithProviders(<MediaAttachment attachment={voice} own onDownloaded={vi.fn()} onError={vi.fn()} />, { language: 'en' });
    expect(screen.getByRole('button', { name: 'Play the voice message 0:07' })).toBeInTheDocument();
  });
});

/** Records the options (headers) of raw invokes, which `mockIPC` does not pass on. */
function recordInvokeOptions() {
  const internals = (window as unknown as { __TAURI_INTERNALS__: { invoke: (...a: unknown[]) => Promise<unknown> } }).__TAURI_INTERNALS__;
  const original = internals.invoke;
  const seen: { cmd: unknown; args: unknown; options: unknown }[] = [];
  internals.invoke = (cmd, args, options) => {
    seen.push({ cmd, args, options });
    return original(cmd, args, options);
  };
  return seen;
}

describe('the recorder', () => {
  const originalAudio = window.Audio;
  afterEach(() => {
    window.Audio = originalAudio;
    vi.unstubAllGlobals();
  });

  it('falls back to an audio file where the webview cannot record; the duration comes from its metadata', async () => {
    // jsdom, like a webview without MediaRecorder: only the file picker is offered.
    class FakeAudio {
      duration = 12.3;
      preload = '';
      onloadedmetadata: (() => void) | null = null;
      onerror: (() => void) | null = null;
      removeAttribute() {}
      set src(_url: string) {
        queueMicrotask(() => this.onloadedmetadata?.());
      }
    }
    window.Audio = FakeAudio as unknown as typeof Audio;
    const backend = mockBackend({ upload_voice: { value: voice } });
    const seen = recordInvokeOptions();
    const onAttached = vi.fn();
    renderWithProviders(<VoiceRecorder onAttached={onAttached} />);
    expect(screen.queryByTestId('voice-record')).not.toBeInTheDocument();
    expect(screen.getByTestId('voice-file-input')).toHaveAttribute('accept', '.ogg,.opus,.oga,.webm,.mp3,.m4a,.wav');
    const file = new File([new Uint8Array([0x4f, 0x67, 0x67, 0x53])], 'Note vocale.opus', { type: 'audio/ogg' });
    await userEvent.upload(screen.getByTestId('voice-file-input'), file);
    await waitFor(() => expect(onAttached).toHaveBeenCalledWith(voice));
    const [payload] = backend.callsOf('upload_voice') as unknown as Uint8Array[];
    expect(Array.from(payload ?? [])).toEqual([0x4f, 0x67, 0x67, 0x53]);
    expect(seen.find((s) => s.cmd === 'upload_voice')?.options).toEqual({
      headers: { 'Dmp-File-Name': 'Note%20vocale.opus', 'Dmp-Duration-Ms': '12300' },
    });
  });

  it('records with the microphone, shows the elapsed time and uploads the recording with its duration', async () => {
    const stopTrack = vi.fn();
    const stream = { getTracks: () => [{ stop: stopTrack }] };
    vi.stubGlobal('navigator', { ...navigator, mediaDevices: { getUserMedia: vi.fn().mockResolvedValue(stream) } });
    class FakeRecorder {
      static isTypeSupported = (type: string) => type === 'audio/webm;codecs=opus';
      state = 'inactive';
      mimeType: string;
      ondataavailable: ((e: { data: Blob }) => void) | null = null;
      onstop: (() => void) | null = null;
      constructor(_stream: unknown, options?: { mimeType: string }) {
        this.mimeType = options?.mimeType ?? '';
      }
      start() {
        this.state = 'recording';
      }
      stop() {
        this.state = 'inactive';
        this.ondataavailable?.({ data: new Blob([new Uint8Array([0x1a, 0x45, 0xdf, 0xa3])]) });
        this.onstop?.();
      }
    }
    vi.stubGlobal('MediaRecorder', FakeRecorder);
    const backend = mockBackend({ upload_voice: { value: voice } });
    const seen = recordInvokeOptions();
    const onAttached = vi.fn();
    renderWithProviders(<VoiceRecorder onAttached={onAttached} />);
    await userEvent.click(screen.getByTestId('voice-record'));
    expect(await screen.findByTestId('voice-recording')).toBeInTheDocument();
    await userEvent.click(screen.getByTestId('voice-stop'));
    await waitFor(() => expect(onAttached).toHaveBeenCalledWith(voice));
    expect(stopTrack).toHaveBeenCalled();
    const [payload] = backend.callsOf('upload_voice') as unknown as Uint8Array[];
    expect(Array.from(payload ?? [])).toEqual([0x1a, 0x45, 0xdf, 0xa3]);
    const headers = (seen.find((s) => s.cmd === 'upload_voice')?.options as { headers: Record<string, string> }).headers;
    expect(headers['Dmp-File-Name']).toMatch(/^message-vocal-\d{14}\.webm$/);
    expect(Number(headers['Dmp-Duration-Ms'])).toBeGreaterThanOrEqual(0);
  });

  it('offers the file picker when the microphone is refused', async () => {
    vi.stubGlobal('navigator', { ...navigator, mediaDevices: { getUserMedia: vi.fn().mockRejectedValue(new Error('NotAllowedError')) } });
    vi.stubGlobal('MediaRecorder', class {});
    mockBackend();
    renderWithProviders(<VoiceRecorder onAttached={vi.fn()} />);
    await userEvent.click(screen.getByTestId('voice-record'));
    expect(await screen.findByRole('alert')).toHaveTextContent('Micro indisponible');
    expect(screen.getByTestId('voice-file')).toBeInTheDocument();
  });

  it('shows why a refused file was not attached', async () => {
    window.Audio = SilentAudio as unknown as typeof Audio;
    mockBackend({ upload_voice: () => Promise.reject({ code: 'VALIDATION_FAILED', message: 'the content of the file is not a .ogg file' }) });
    renderWithProviders(<VoiceRecorder onAttached={vi.fn()} />);
    await userEvent.upload(screen.getByTestId('voice-file-input'), new File(['MZ'], 'virus.ogg', { type: 'audio/ogg' }));
    expect(await screen.findByRole('alert')).toHaveTextContent('n’est pas un fichier audio accepté');
  });
});

describe('helpers', () => {
  it('format durations and name recordings by container', () => {
    expect([formatDuration(0), formatDuration(7400), formatDuration(65_000), formatDuration(720_000)]).toEqual(['0:00', '0:07', '1:05', '12:00']);
    expect(['audio/webm;codecs=opus', 'audio/ogg; codecs=opus', 'audio/mp4', 'audio/wav', ''].map(extensionFor)).toEqual(['webm', 'ogg', 'm4a', 'wav', 'webm']);
  });

  it('give no duration when the metadata never comes', async () => {
    const original = window.Audio;
    window.Audio = SilentAudio as unknown as typeof Audio;
    try {
      expect(await measureDuration(new Blob(['x']))).toBeUndefined();
    } finally {
      window.Audio = original;
    }
  });
});
