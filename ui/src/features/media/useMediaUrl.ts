/**
 * Bytes from the Rust side (raw IPC, an `ArrayBuffer`) as a Blob URL for `<img>` /
 * `<audio>`, revoked when the component goes away or the attachment changes. The
 * page never holds a data URL of the whole file.
 */
import { useEffect, useState } from 'react';
import { commands, errorCode, type ErrorCode } from '../../api';

export type MediaSource = 'thumbnail' | 'media';

export type MediaUrl = { url: string | null; error: ErrorCode | null };

/** Loads when `attachmentId` is set; `null` waits (e.g. until the user asks). */
export function useMediaUrl(source: MediaSource, attachmentId: string | null, mimeType: string): MediaUrl {
  const [state, setState] = useState<MediaUrl>({ url: null, error: null });
  useEffect(() => {
    if (!attachmentId) return undefined;
    let cancelled = false;
    let url: string | null = null;
    setState({ url: null, error: null });
    const load = source === 'thumbnail' ? commands.attachmentThumbnail : commands.attachmentMedia;
    load(attachmentId)
      .then((bytes) => {
        if (cancelled) return;
        url = URL.createObjectURL(new Blob([bytes], { type: mimeType }));
        setState({ url, error: null });
      })
      .catch((caught: unknown) => !cancelled && setState({ url: null, error: errorCode(caught) }));
    return () => {
      cancelled = true;
      if (url) URL.revokeObjectURL(url);
    };
  }, [source, attachmentId, mimeType]);
  return state;
}

/** "0:07", "1:05", "12:00" from milliseconds (rounded to the second). */
export function formatDuration(ms: number): string {
  const total = Math.max(0, Math.round(ms / 1000));
  const minutes = Math.floor(total / 60);
  const seconds = total % 60;
  return `${minutes}:${String(seconds).padStart(2, '0')}`;
}

export const isAudio = (mimeType: string) => mimeType.startsWith('audio/');
export const isThumbnailed = (mimeType: string) => /^image\/(jpeg|png|webp)$/.test(mimeType);
