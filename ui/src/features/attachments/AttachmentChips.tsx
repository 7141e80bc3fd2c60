/** The attachments of the message being written, with thumbnails, states and remove. */
import { useI18n } from '../../i18n';
import { CloseIcon, FileIcon, AlertIcon } from '../../components/icons';
import { Spinner } from '../../components/Spinner';
import { errorKey } from '../../app/errorMessages';
import type { AttachmentsController } from './useAttachments';
import type { Rejection } from './validation';

export function AttachmentChips({ controller }: { controller: AttachmentsController }) {
  const { t, format } = useI18n();
  if (controller.items.length === 0) return null;
  return (
    <ul className="flex flex-wrap gap-2" aria-label={t('attachments.listLabel')}>
      {controller.items.map((item) => (
        <li
          key={item.localId}
          className={`flex max-w-[15rem] items-center gap-2 rounded-lg border bg-white py-1 pl-1 pr-1.5 text-xs shadow-sm ${
            item.state === 'error' ? 'border-red-300' : 'border-slate-200'
          }`}
        >
          {item.previewUrl ? (
            <img src={item.previewUrl} alt={t('attachments.previewAlt', { name: item.name })} className="h-9 w-9 rounded object-cover" />
          ) : (
            <span className="flex h-9 w-9 items-center justify-center rounded bg-slate-100 text-slate-500">
              <FileIcon className="h-5 w-5" />
            </span>
          )}
          <span className="min-w-0 flex-1">
            <span className="block truncate font-medium text-slate-800">{item.name}</span>
            <span className="block text-slate-500">
              {item.state === 'uploading' && <Spinner label={t('attachments.uploading', { name: item.name })} className="h-3 w-3" />}
              {item.state === 'ready' && format.fileSize(item.size)}
              {item.state === 'error' && (
                <span className="inline-flex items-center gap-1 text-red-700">
                  <AlertIcon className="h-3 w-3" />
                  {t(errorKey(item.error ?? 'INTERNAL'))}
                </span>
              )}
            </span>
          </span>
          <button
            type="button"
            onClick={() => controller.remove(item.localId)}
            aria-label={t('attachments.remove', { name: item.name })}
            className="rounded p-1 text-slate-500 hover:bg-slate-100 hover:text-slate-800 focus-visible:outline focus-visible:outline-2 focus-visible:outline-blue-600"
          >
            <CloseIcon className="h-3.5 w-3.5" />
          </button>
        </li>
      ))}
    </ul>
  );
}

export function RejectionList({ rejections, maxSize, types, onDismiss }: { rejections: Rejection[]; maxSize: string; types: string; onDismiss: () => void }) {
  const { t } = useI18n();
  if (rejections.length === 0) return null;
  return (
    <div role="alert" className="flex items-start gap-2 rounded-lg bg-red-50 px-3 py-2 text-sm text-red-800 ring-1 ring-red-200">
      <AlertIcon className="mt-0.5 h-4 w-4 shrink-0" />
      <ul className="flex-1 space-y-0.5">
        {rejections.map((r, i) => (
          <li key={i}>
            {r.reason === 'type' && t('attachments.error.type', { name: r.name, types })}
            {r.reason === 'size' && t('attachments.error.size', { name: r.name, max: maxSize })}
            {r.reason === 'empty' && t('attachments.error.empty', { name: r.name })}
            {r.reason === 'count' && t('attachments.error.count', { max: r.max })}
          </li>
        ))}
      </ul>
      <button type="button" onClick={onDismiss} aria-label={t('common.dismiss')} className="rounded p-0.5 hover:bg-red-100">
        <CloseIcon className="h-4 w-4" />
      </button>
    </div>
  );
}
