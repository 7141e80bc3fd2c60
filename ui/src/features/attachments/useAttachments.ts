/**
 * The attachments of the message being written: validated, uploaded one by one with
 * `upload_attachment`, previewed with `attachment_preview` when they are images.
 */
import { useCallback, useEffect, useMemo, useRef, useState } from 'react';
import { commands, errorCode, type Attachment, type ErrorCode, type Limits } from '../../api';
import { isImage, validateFiles, type Rejection } from './validation';

export type AttachmentItem = {
  localId: string;
  name: string;
  size: number;
  state: 'uploading' | 'ready' | 'error';
  attachment?: Attachment;
  previewUrl?: string;
  error?: ErrorCode;
};

let counter = 0;
const nextId = () => `att-${++counter}`;

function fromAttachment(attachment: Attachment): AttachmentItem {
  return { localId: nextId(), name: attachment.name, size: attachment.size, state: 'ready', attachment };
}

export function useAttachments(limits: Limits, initial: Attachment[]) {
  const [items, setItems] = useState<AttachmentItem[]>(() => initial.map(fromAttachment));
  const [rejections, setRejections] = useState<Rejection[]>([]);
  const itemsRef = useRef(items);
  itemsRef.current = items;
  const mounted = useRef(true);

  useEffect(() => {
    mounted.current = true;
    return () => {
      mounted.current = false;
      // Thumbnails are Blob URLs of the raw bytes: give them back.
      itemsRef.current.forEach((i) => i.previewUrl && URL.revokeObjectURL(i.previewUrl));
    };
  }, []);

  const patch = useCallback((localId: string, change: Partial<AttachmentItem>) => {
    if (!mounted.current) return;
    setItems((list) => list.map((item) => (item.localId === localId ? { ...item, ...change } : item)));
  }, []);

  const loadPreview = useCallback(
    async (localId: string, attachment: Attachment) => {
      if (!isImage(attachment.mimeType) && !isImage(attachment.name)) return;
      try {
        const bytes = await commands.attachmentPreview(attachment.id);
        patch(localId, { previewUrl: URL.createObjectURL(new Blob([bytes], { type: attachment.mimeType })) });
      } catch {
        // A missing thumbnail is not worth an error message; the file chip remains.
      }
    },
    [patch],
  );

  // Thumbnails for attachments restored from a draft.
  useEffect(() => {
    itemsRef.current.forEach((item) => item.attachment && void loadPreview(item.localId, item.attachment));
  }, [loadPreview]);

  const upload = useCallback(
    async (localId: string, file: File) => {
      try {
        const bytes = new Uint8Array(await file.arrayBuffer());
        const attachment = await commands.uploadAttachment(file.name, bytes);
        patch(localId, { state: 'ready', attachment, size: attachment.size });
        await loadPreview(localId, attachment);
      } catch (caught) {
        patch(localId, { state: 'error', error: errorCode(caught) });
      }
    },
    [patch, loadPreview],
  );

  const addFiles = useCallback(
    (files: File[]) => {
      const current = itemsRef.current.filter((i) => i.state !== 'error').length;
      const { accepted, rejections: rejected } = validateFiles(files, current, limits);
      setRejections(rejected);
      if (accepted.length === 0) return;
      const added = accepted.map((file) => ({ file, item: { localId: nextId(), name: file.name, size: file.size, state: 'uploading' as const } }));
      setItems((list) => [...list, ...added.map((a) => a.item)]);
      added.forEach(({ file, item }) => void upload(item.localId, file));
    },
    [limits, upload],
  );

  const remove = useCallback((localId: string) => {
    const gone = itemsRef.current.find((i) => i.localId === localId);
    if (gone?.previewUrl) URL.revokeObjectURL(gone.previewUrl);
    setItems((list) => list.filter((i) => i.localId !== localId));
  }, []);

  const reset = useCallback(() => {
    itemsRef.current.forEach((i) => i.previewUrl && URL.revokeObjectURL(i.previewUrl));
    setItems([]);
    setRejections([]);
  }, []);

  const dismissRejections = useCallback(() => setRejections([]), []);

  /** An attachment uploaded by another control (the voice recorder) joins the message. */
  const addAttachment = useCallback((attachment: Attachment) => {
    setItems((list) => [...list, fromAttachment(attachment)]);
  }, []);

  /** Puts back uploaded attachments (a send refused before it was queued). */
  const restore = useCallback(
    (attachments: Attachment[]) => {
      const back = attachments.map(fromAttachment);
      setItems((list) => [...back, ...list]);
      back.forEach((item) => item.attachment && void loadPreview(item.localId, item.attachment));
    },
    [loadPreview],
  );

  const ready = useMemo(() => items.flatMap((i) => (i.state === 'ready' && i.attachment ? [i.attachment] : [])), [items]);
  const uploading = items.some((i) => i.state === 'uploading');

  return { items, ready, uploading, rejections, addFiles, addAttachment, remove, reset, restore, dismissRejections };
}

export type AttachmentsController = ReturnType<typeof useAttachments>;
