/** Attachments inside a message: image thumbnails (`attachment_preview`) and download. */
import { useEffect, useState } from 'react';
import { commands, errorCode, type Attachment, type ErrorCode } from '../../api';
import { useI18n } from '../../i18n';
import { DownloadIcon, FileIcon } from '../../components/icons';
import { isImage } from './validation';

/** A Blob URL of the image's bytes (raw over IPC), revoked on unmount or change. */
function usePreview(attachment: Attachment): string | null {
  const [url, setUrl] = useState<string | null>(null);
  const image = isImage(attachment.mimeType) || isImage(attachment.name);
  useEffect(() => {
    if (!image) return undefined;
    let cancelled = false;
    let objectUrl: string | null = null;
    commands
      .attachmentPreview(attachment.id)
      .then((bytes) => {
        if (cancelled) return;
        objectUrl = URL.createObjectURL(new Blob([bytes], { type: attachment.mimeType }));
        setUrl(objectUrl);
      })
      .catch(() => undefined);
    return () => {
      cancelled = true;
      if (objectUrl) URL.revokeObjectURL(objectUrl);
      setUrl(null);
    };
  }, [attachment.id, attachment.mimeType, image]);
  return url;
}

type AttachmentViewProps = {
  attachment: Attachment;
  own: boolean;
  onDownloaded: (path: string) => void;
  onError: (code: ErrorCode) => void;
};

export function AttachmentView({ attachment, own, onDownloaded, onError }: AttachmentViewProps) {
  const { t, format } = useI18n();
  const preview = usePreview(attachment);
  const [busy, setBusy] = useState(false);

  const download = async () => {
    setBusy(true);
    try {
      onDownloaded(await commands.downloadAttachment(attachment.id, attachment.name));
    } catch (caught) {
      onError(errorCode(caught));
    } finally {
      setBusy(false);
    }
  };

  return (
    <div className={`mt-2 overflow-hidden rounded-lg ${own ? 'bg-white/15' : 'bg-white/70'} ring-1 ring-black/5`}>
      {preview && <img src={preview} alt={t('attachments.previewAlt', { name: attachment.name })} className="max-h-48 w-full object-cover" />}
      <div className="flex items-center gap-2 px-2 py-1.5">
        <FileIcon className="h-4 w-4 shrink-0" />
        <span className="min-w-0 flex-1">
          <span className="block truncate text-xs font-medium">{attachment.name}</span>
          <span className="block text-[11px] opacity-80">{format.fileSize(attachment.size)}</span>
        </span>
        <button
          type="button"
          onClick={download}
          disabled={busy}
          aria-label={t('attachments.download', { name: attachment.name })}
          className="rounded p-1 hover:bg-black/10 focus-visible:outline focus-visible:outline-2 focus-visible:outline-current disabled:opacity-50"
        >
          <DownloadIcon className="h-4 w-4" />
        </button>
      </div>
    </div>
  );
}
