/**
 * An image in a message: its thumbnail (made and encrypted by the sender's client,
 * `attachment_thumbnail`, a few KiB) shows at once; the whole image is fetched only
 * when the user opens it (`attachment_media`), into a Blob URL.
 */
import { useEffect, useRef, useState } from 'react';
import type { Attachment } from '../../api';
import { useI18n } from '../../i18n';
import { useMediaUrl } from './useMediaUrl';

type ImageAttachmentProps = { attachment: Attachment };

export function ImageAttachment({ attachment }: ImageAttachmentProps) {
  const { t } = useI18n();
  const [open, setOpen] = useState(false);
  const thumb = useMediaUrl('thumbnail', attachment.thumbnailId ? attachment.id : null, 'image/jpeg');
  const ratio = attachment.width && attachment.height ? `${attachment.width} / ${attachment.height}` : '4 / 3';

  return (
    <div className="mt-2">
      <button
        type="button"
        data-testid="image-thumbnail"
        data-attachment-id={attachment.id}
        onClick={() => setOpen(true)}
        aria-label={t('media.openImage', { name: attachment.name })}
        className="block max-w-[240px] overflow-hidden rounded-lg bg-slate-200 ring-1 ring-black/5 focus-visible:outline focus-visible:outline-2 focus-visible:outline-blue-600"
        style={{ aspectRatio: ratio, width: '100%' }}
      >
        {thumb.url && <img src={thumb.url} alt={t('attachments.previewAlt', { name: attachment.name })} className="h-full w-full object-cover" />}
        {thumb.error && <span className="block p-2 text-xs text-slate-600">{t('media.thumbnailUnavailable')}</span>}
      </button>
      {open && <ImageViewer attachment={attachment} onClose={() => setOpen(false)} />}
    </div>
  );
}

function ImageViewer({ attachment, onClose }: { attachment: Attachment; onClose: () => void }) {
  const { t } = useI18n();
  const full = useMediaUrl('media', attachment.id, attachment.mimeType);
  const close = useRef<HTMLButtonElement>(null);

  useEffect(() => {
    close.current?.focus();
    const onKey = (event: KeyboardEvent) => event.key === 'Escape' && onClose();
    window.addEventListener('keydown', onKey);
    return () => window.removeEventListener('keydown', onKey);
  }, [onClose]);

  return (
    <div
      role="dialog"
      aria-modal="true"
      aria-label={attachment.name}
      data-testid="image-viewer"
      className="fixed inset-0 z-50 flex flex-col items-center justify-center gap-3 bg-black/80 p-4"
      onClick={onClose}
    >
      <button
        ref={close}
        type="button"
        onClick={onClose}
        className="self-end rounded-lg bg-white/90 px-3 py-1 text-sm font-medium text-slate-900 focus-visible:outline focus-visible:outline-2 focus-visible:outline-white"
      >
        {t('common.close')}
      </button>
      {full.url ? (
        <img
          src={full.url}
          alt={attachment.name}
          data-testid="image-full"
          className="max-h-[85vh] max-w-full object-contain"
          onClick={(event) => event.stopPropagation()}
        />
      ) : (
        <p role="status" className="text-sm text-white">
          {full.error ? t('media.imageUnavailable') : t('common.loading')}
        </p>
      )}
    </div>
  );
}
