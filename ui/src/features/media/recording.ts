/**
 * Voice capture helpers: what the webview can do (MediaRecorder + getUserMedia; on
 * Linux the shell turns WebKitGTK's media stream on and grants microphone requests),
 * the file name a recording gets from its container, and the duration of a picked
 * audio file (its `<audio>` metadata).
 */

/** Audio files the fallback picker offers (the types the client core sniffs). */
export const AUDIO_ACCEPT = '.ogg,.opus,.oga,.webm,.mp3,.m4a,.wav';

/** Recordings stop by themselves after ten minutes (a few MB of Opus). */
export const MAX_RECORDING_MS = 10 * 60 * 1000;

export function canRecord(): boolean {
  return typeof MediaRecorder !== 'undefined' && typeof navigator !== 'undefined' && !!navigator.mediaDevices?.getUserMedia;
}

/** The extension for a MediaRecorder MIME type (`audio/webm;codecs=opus` → `webm`). */
export function extensionFor(mimeType: string): string {
  const base = (mimeType.split(';')[0] ?? '').trim().toLowerCase();
  if (base.endsWith('/ogg')) return 'ogg';
  if (base.endsWith('/mp4') || base.endsWith('/x-m4a') || base.endsWith('/aac')) return 'm4a';
  if (base.endsWith('/wav') || base.endsWith('/wave')) return 'wav';
  if (base.endsWith('/mpeg')) return 'mp3';
  return 'webm';
}

/** The MIME type to ask MediaRecorder for: Opus in Ogg or WebM when it can. */
export function preferredRecordingType(): string | undefined {
  const candidates = ['audio/ogg;codecs=opus', 'audio/webm;codecs=opus', 'audio/webm', 'audio/mp4'];
  return candidates.find((type) => MediaRecorder.isTypeSupported?.(type));
}

/** Duration in ms of an audio file from its metadata; undefined when the webview cannot tell. */
export function measureDuration(file: Blob, timeoutMs = 5000): Promise<number | undefined> {
  return new Promise((resolve) => {
    const url = URL.createObjectURL(file);
    const audio = new Audio();
    const done = (value: number | undefined) => {
      clearTimeout(timer);
      audio.removeAttribute('src');
      URL.revokeObjectURL(url);
      resolve(value);
    };
    const timer = setTimeout(() => done(undefined), timeoutMs);
    audio.preload = 'metadata';
    audio.onloadedmetadata = () => done(Number.isFinite(audio.duration) ? audio.duration * 1000 : undefined);
    audio.onerror = () => done(undefined);
    audio.src = url;
  });
}
