/** A yes/no question in an alert dialog; focus starts on the safe choice. */
import { useRef } from 'react';
import { Dialog } from './Dialog';

type ConfirmDialogProps = {
  title: string;
  description: string;
  confirmLabel: string;
  cancelLabel: string;
  danger?: boolean;
  onConfirm: () => void;
  onCancel: () => void;
};

export function ConfirmDialog({ title, description, confirmLabel, cancelLabel, danger, onConfirm, onCancel }: ConfirmDialogProps) {
  const cancelRef = useRef<HTMLButtonElement>(null);
  return (
    <Dialog title={title} description={description} onClose={onCancel} role="alertdialog" initialFocusRef={cancelRef}>
      <div className="flex flex-col-reverse gap-2 sm:flex-row sm:justify-end">
        <button
          ref={cancelRef}
          type="button"
          onClick={onCancel}
          className="rounded-lg border border-slate-300 px-4 py-2 text-sm font-medium text-slate-700 hover:bg-slate-50 focus-visible:outline focus-visible:outline-2 focus-visible:outline-offset-2 focus-visible:outline-blue-600"
        >
          {cancelLabel}
        </button>
        <button
          type="button"
          onClick={onConfirm}
          className={`rounded-lg px-4 py-2 text-sm font-semibold text-white focus-visible:outline focus-visible:outline-2 focus-visible:outline-offset-2 ${
            danger ? 'bg-red-600 hover:bg-red-700 focus-visible:outline-red-600' : 'bg-blue-600 hover:bg-blue-700 focus-visible:outline-blue-600'
          }`}
        >
          {confirmLabel}
        </button>
      </div>
    </Dialog>
  );
}
