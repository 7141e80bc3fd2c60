/**
 * A voice message in a message: its duration (measured by the sender's window, inside
 * the envelope) at once; the audio is fetched on the first "play" (`attachment_media`)
 * and played by an `<audio>` element from a Blob URL.
 */
import { useState } from 'react';
import type { Attachment } from '../../api';
import { useI18n } from '../../i18n';
import { PlayIcon } from './icons';
import { formatDuration, useMediaUrl } from './useMediaUrl';

type VoicePlayerProps = { attachment: Attachment; own: boolean };

export function VoicePlayer({ attachment, own }: VoicePlayerProps) {
  const { t } = useI18n();
  const [wanted, setWanted] = useState(false);
  const audio = useMediaUrl('media', wanted ? attachment.id : null, attachment.mimeType);
  const duration = attachment.durationMs == null ? null : formatDuration(attachment.durationMs);

  return (
    <div
      data-testid="voice-player"
      data-attachment-id={attachment.id}
      data-duration-ms={attachment.durationMs}
      className={`mt-2 flex items-center gap-2 rounded-lg px-2 py-1.5 ring-1 ring-black/5 ${own ? 'bg-white/15' : 'bg-white/70'}`}
    >
      {audio.url ? (
        <audio src={audio.url} controls autoPlay className="h-9 max-w-[240px]" aria-label={t('media.voiceMessage')} />
      ) : (
        <button
          type="button"
          onClick={() => setWanted(true)}
          disabled={wanted && !audio.error}
          aria-label={t('media.play', { duration: duration ?? '' })}
          className="flex h-9 w-9 items-center justify-center rounded-full bg-blue-600 text-white hover:bg-blue-700 focus-visible:outline focus-visible:outline-2 focus-visible:outline-offset-2 focus-visible:outline-blue-600 disabled:opacity-60"
        >
          <PlayIcon className="h-4 w-4" />
        </button>
      )}
      <span className="text-xs font-medium">{t('media.voiceMessage')}</span>
      {duration && (
        <span className="text-xs tabular-nums opacity-80" data-testid="voice-duration">
          {duration}
        </span>
      )}
      {audio.error && (
        <span role="alert" className="text-xs text-red-700">
          {t('media.audioUnavailable')}
        </span>
      )}
    </div>
  );
}
