/**
 * An image in a message: its thumbnail (made and encrypted by the sender's client,
 * `attachment_thumbnail`, a few KiB) shows at once; the whole image is fetched only
 * when the user opens it (`attachment_media`), into a Blob URL.
 */
import { useRef, useState } from 'react';
import type { Attachment } from '../../api';
import { useI18n } from '../../i18n';
import { Dialog } from '../../components/Dialog';
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

/** The whole image, in the app's one modal (focus trap; Escape closes only this one). */
function ImageViewer({ attachment, onClose }: { attachment: Attachment; onClose: () => void }) {
  const { t } = useI18n();
  const full = useMediaUrl('media', attachment.id, attachment.mimeType);
  const close = useRef<HTMLButtonElement>(null);

  return (
    <Dialog title={attachment.name} onClose={onClose} initialFocusRef={close} className="max-w-4xl" titleClassName="truncate text-base font-semibold text-slate-900">
      <div data-testid="image-viewer" className="flex flex-col items-center gap-3">
        {full.url ? (
          <img src={full.url} alt={attachment.name} data-testid="image-full" className="max-h-[75vh] max-w-full object-contain" />
        ) : (
          <p role="status" className="text-sm text-slate-600">
            {full.error ? t('media.imageUnavailable') : t('common.loading')}
          </p>
        )}
        <button
          ref={close}
          type="button"
          onClick={onClose}
          className="self-end rounded-lg bg-slate-100 px-3 py-1.5 text-sm font-medium text-slate-800 hover:bg-slate-200 focus-visible:outline focus-visible:outline-2 focus-visible:outline-blue-600"
        >
          {t('common.close')}
        </button>
      </div>
    </Dialog>
  );
}
