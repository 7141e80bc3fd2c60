/**
 * Client-side checks on files before anything is uploaded: type (by extension, and by
 * the browser's MIME guess when it has one), size and count. The server checks the
 * content again; this is for clear, immediate messages.
 */
import type { Limits } from '../../api';

export const DEFAULT_LIMITS: Limits = {
  maxMessageLength: 1000,
  maxAttachments: 5,
  maxFileSize: 10 * 1024 * 1024,
  allowedFileTypes: ['pdf', 'jpg', 'png', 'webp', 'doc', 'docx', 'ogg', 'webm', 'mp3', 'm4a', 'wav'],
  // The rest of the server's `Limits` (protocol/src/limits.rs defaults).
  maxEnvelopeBytes: 16 * 1024,
  autoArchiveAfterDays: 30,
  retentionPeriodDays: 7 * 365 + 2,
  typingIndicatorDelayMs: 1000,
  messageTimeoutSecs: 30,
  answerWithinHours: 72,
};

const MIME_BY_TYPE: Record<string, string[]> = {
  pdf: ['application/pdf'],
  jpg: ['image/jpeg', 'image/pjpeg'],
  png: ['image/png'],
  webp: ['image/webp'],
  ogg: ['audio/ogg', 'audio/opus', 'application/ogg'],
  webm: ['audio/webm', 'video/webm'],
  mp3: ['audio/mpeg', 'audio/mp3'],
  m4a: ['audio/mp4', 'audio/x-m4a', 'audio/m4a'],
  wav: ['audio/wav', 'audio/x-wav', 'audio/wave'],
  doc: ['application/msword'],
  docx: ['application/vnd.openxmlformats-officedocument.wordprocessingml.document'],
};

const ALIASES: Record<string, string> = { jpeg: 'jpg', opus: 'ogg', oga: 'ogg' };

export type FileLike = { name: string; size: number; type: string };

export type Rejection =
  | { reason: 'type'; name: string }
  | { reason: 'size'; name: string }
  | { reason: 'empty'; name: string }
  | { reason: 'count'; max: number };

export function fileType(name: string): string {
  const dot = name.lastIndexOf('.');
  const ext = dot >= 0 ? name.slice(dot + 1).toLowerCase() : '';
  return ALIASES[ext] ?? ext;
}

export function acceptAttribute(limits: Limits): string {
  const types = limits.allowedFileTypes.map((t) => t.toLowerCase());
  const exts = types.flatMap((t) => (t === 'jpg' ? ['.jpg', '.jpeg'] : t === 'ogg' ? ['.ogg', '.opus', '.oga'] : [`.${t}`]));
  return exts.join(',');
}

function allowedType(file: FileLike, limits: Limits): boolean {
  const type = fileType(file.name);
  if (!limits.allowedFileTypes.map((t) => t.toLowerCase()).includes(type)) return false;
  const mimes = MIME_BY_TYPE[type];
  if (!file.type || !mimes || file.type === 'application/octet-stream') return true;
  return mimes.includes(file.type);
}

export function validateFiles<F extends FileLike>(
  files: F[],
  alreadyAttached: number,
  limits: Limits,
): { accepted: F[]; rejections: Rejection[] } {
  const rejections: Rejection[] = [];
  const valid: F[] = [];
  for (const file of files) {
    if (!allowedType(file, limits)) rejections.push({ reason: 'type', name: file.name });
    else if (file.size > limits.maxFileSize) rejections.push({ reason: 'size', name: file.name });
    else if (file.size === 0) rejections.push({ reason: 'empty', name: file.name });
    else valid.push(file);
  }
  // Over the count, nothing of the batch is taken: the user picks again, knowingly.
  if (valid.length > 0 && alreadyAttached + valid.length > limits.maxAttachments) {
    rejections.push({ reason: 'count', max: limits.maxAttachments });
    return { accepted: [], rejections };
  }
  return { accepted: valid, rejections };
}

export function isImage(mimeTypeOrName: string): boolean {
  return /^image\/(png|jpe?g)$/i.test(mimeTypeOrName) || /\.(png|jpe?g)$/i.test(mimeTypeOrName);
}
