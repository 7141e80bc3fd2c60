/**
 * The one modal primitive: role="dialog" (or "alertdialog"), aria-modal, labelled by its
 * title, focus trapped, Escape closes when dismissible. Rendered in a portal; Tab and
 * Escape stop here so that a dialog opened from another dialog does not close both.
 */
import { useId, useRef, type KeyboardEvent, type ReactNode, type RefObject } from 'react';
import { createPortal } from 'react-dom';
import { trapTab, useFocusTrap } from './useFocusTrap';

type DialogProps = {
  title: ReactNode;
  description?: ReactNode;
  children: ReactNode;
  /** Absent for blocking dialogs: no Escape, no backdrop click. */
  onClose?: () => void;
  role?: 'dialog' | 'alertdialog';
  initialFocusRef?: RefObject<HTMLElement | null>;
  /** Extra classes for the panel (width…). */
  className?: string;
  titleClassName?: string;
};

export function Dialog({
  title,
  description,
  children,
  onClose,
  role = 'dialog',
  initialFocusRef,
  className = 'max-w-md',
  titleClassName = 'text-lg font-semibold text-slate-900',
}: DialogProps) {
  const panelRef = useRef<HTMLDivElement>(null);
  const titleId = useId();
  const descriptionId = useId();
  useFocusTrap(panelRef, initialFocusRef);

  const onKeyDown = (event: KeyboardEvent<HTMLDivElement>) => {
    if (event.key === 'Escape') {
      event.stopPropagation();
      if (onClose) {
        event.preventDefault();
        onClose();
      }
    } else if (event.key === 'Tab' && panelRef.current) {
      event.stopPropagation();
      trapTab(event, panelRef.current);
    }
  };

  return createPortal(
    <div className="fixed inset-0 z-50 flex items-end justify-center p-0 sm:items-center sm:p-4">
      <div
        className="absolute inset-0 bg-slate-900/50 motion-safe:animate-fade-in"
        aria-hidden="true"
        onClick={onClose}
      />
      <div
        ref={panelRef}
        role={role}
        aria-modal="true"
        aria-labelledby={titleId}
        aria-describedby={description ? descriptionId : undefined}
        tabIndex={-1}
        onKeyDown={onKeyDown}
        className={`relative w-full ${className} rounded-t-2xl bg-white p-5 shadow-2xl outline-none sm:rounded-2xl motion-safe:animate-message-appear`}
      >
        <h2 id={titleId} className={titleClassName}>
          {title}
        </h2>
        {description && (
          <div id={descriptionId} className="mt-2 text-sm text-slate-600">
            {description}
          </div>
        )}
        <div className="mt-4">{children}</div>
      </div>
    </div>,
    document.body,
  );
}
