/**
 * The composer's voice message control: records with the microphone where the webview
 * allows it (the elapsed time is the duration), or takes an audio file (its metadata
 * gives the duration). The audio goes raw to `upload_voice` (the client core sniffs,
 * encrypts and uploads it) and joins the message's attachments.
 */
import { useEffect, useRef, useState, type ChangeEvent } from 'react';
import { commands, errorCode, type Attachment, type ErrorCode } from '../../api';
import { useI18n } from '../../i18n';
import { Spinner } from '../../components/Spinner';
import { AudioFileIcon, MicIcon, StopIcon } from './icons';
import { AUDIO_ACCEPT, MAX_RECORDING_MS, canRecord, extensionFor, measureDuration, preferredRecordingType } from './recording';
import { formatDuration } from './useMediaUrl';

type VoiceRecorderProps = {
  disabled?: boolean;
  onAttached: (attachment: Attachment) => void;
  className?: string;
};

type Recording = { recorder: MediaRecorder; stream: MediaStream; startedAt: number; chunks: Blob[]; cancelled: boolean };

export function VoiceRecorder({ disabled, onAttached, className }: VoiceRecorderProps) {
  const { t } = useI18n();
  const [state, setState] = useState<'idle' | 'recording' | 'uploading'>('idle');
  const [elapsed, setElapsed] = useState(0);
  const [error, setError] = useState<ErrorCode | 'MIC_DENIED' | null>(null);
  const [micUnavailable, setMicUnavailable] = useState(() => !canRecord());
  const recording = useRef<Recording | null>(null);
  const fileInput = useRef<HTMLInputElement>(null);

  useEffect(() => {
    if (state !== 'recording') return undefined;
    const timer = setInterval(() => {
      const current = recording.current;
      if (!current) return;
      const ms = performance.now() - current.startedAt;
      setElapsed(ms);
      if (ms >= MAX_RECORDING_MS) current.recorder.stop();
    }, 250);
    return () => clearInterval(timer);
  }, [state]);

  // Leaving the conversation while recording drops the recording and frees the microphone.
  useEffect(
    () => () => {
      const current = recording.current;
      if (current) {
        current.cancelled = true;
        if (current.recorder.state !== 'inactive') current.recorder.stop();
        current.stream.getTracks().forEach((track) => track.stop());
      }
    },
    [],
  );

  const upload = async (name: string, audio: Blob, durationMs: number | undefined) => {
    setState('uploading');
    try {
      const bytes = new Uint8Array(await audio.arrayBuffer());
      onAttached(await commands.uploadVoice(name, bytes, durationMs));
      setError(null);
    } catch (caught) {
      setError(errorCode(caught));
    } finally {
      setState('idle');
    }
  };

  const start = async () => {
    setError(null);
    let stream: MediaStream;
    try {
      stream = await navigator.mediaDevices.getUserMedia({ audio: true });
    } catch {
      setMicUnavailable(true);
      setError('MIC_DENIED');
      return;
    }
    const type = preferredRecordingType();
    const recorder = new MediaRecorder(stream, type ? { mimeType: type } : undefined);
    const current: Recording = { recorder, stream, startedAt: performance.now(), chunks: [], cancelled: false };
    recorder.ondataavailable = (event) => event.data.size > 0 && current.chunks.push(event.data);
    recorder.onstop = () => {
      stream.getTracks().forEach((track) => track.stop());
      recording.current = null;
      if (current.cancelled) {
        setState('idle');
        return;
      }
      const durationMs = performance.now() - current.startedAt;
      const mimeType = recorder.mimeType || type || 'audio/webm';
      const stamp = new Date().toISOString().slice(0, 19).replace(/\D/g, '');
      void upload(`message-vocal-${stamp}.${extensionFor(mimeType)}`, new Blob(current.chunks, { type: mimeType }), durationMs);
    };
    recording.current = current;
    setElapsed(0);
    recorder.start(1000);
    setState('recording');
  };

  const stop = (cancel: boolean) => {
    const current = recording.current;
    if (!current) return;
    current.cancelled = cancel;
    current.recorder.stop();
  };

  const onFile = async (event: ChangeEvent<HTMLInputElement>) => {
    const file = event.target.files?.[0];
    event.target.value = '';
    if (!file) return;
    setError(null);
    await upload(file.name, file, await measureDuration(file));
  };

  const iconButton =
    'rounded-lg p-2 text-slate-500 hover:bg-slate-100 hover:text-slate-800 focus-visible:outline focus-visible:outline-2 focus-visible:outline-blue-600 disabled:opacity-40';

  return (
    <div className={`flex items-center ${className ?? ''}`}>
      {state === 'recording' ? (
        <div className="flex items-center gap-1 rounded-lg bg-red-50 px-1" data-testid="voice-recording">
          <span className="h-2 w-2 animate-pulse rounded-full bg-red-600" aria-hidden="true" />
          <span className="px-1 text-xs tabular-nums text-red-700" role="timer" aria-label={t('media.recording')}>
            {formatDuration(elapsed)}
          </span>
          <button type="button" data-testid="voice-stop" onClick={() => stop(false)} aria-label={t('media.stopRecording')} className={iconButton}>
            <StopIcon className="h-4 w-4 text-red-600" />
          </button>
          <button type="button" onClick={() => stop(true)} className="rounded px-1.5 py-1 text-xs text-slate-600 hover:bg-slate-100">
            {t('common.cancel')}
          </button>
        </div>
      ) : state === 'uploading' ? (
        <span className="p-2" role="status" aria-label={t('media.uploadingVoice')}>
          <Spinner />
        </span>
      ) : micUnavailable ? (
        <button type="button" data-testid="voice-file" disabled={disabled} onClick={() => fileInput.current?.click()} aria-label={t('media.pickAudio')} title={t('media.pickAudio')} className={iconButton}>
          <AudioFileIcon />
        </button>
      ) : (
        <button type="button" data-testid="voice-record" disabled={disabled} onClick={() => void start()} aria-label={t('media.record')} title={t('media.record')} className={iconButton}>
          <MicIcon />
        </button>
      )}
      <input
        ref={fileInput}
        type="file"
        accept={AUDIO_ACCEPT}
        onChange={(event) => void onFile(event)}
        className="hidden"
        data-testid="voice-file-input"
        tabIndex={-1}
        aria-hidden="true"
      />
      {error && (
        <p role="alert" className="ml-1 text-xs text-red-600">
          {error === 'MIC_DENIED' ? t('media.micDenied') : error === 'VALIDATION_FAILED' ? t('media.voiceRefused') : t('media.voiceFailed')}
        </p>
      )}
    </div>
  );
}
