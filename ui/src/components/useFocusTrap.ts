/**
 * Keeps keyboard focus inside a dialog: Tab and Shift+Tab wrap around its focusable
 * elements; focus moves in on mount and returns to the opener on unmount.
 */
import { useEffect, type RefObject } from 'react';

const FOCUSABLE = [
  'a[href]',
  'button:not([disabled])',
  'textarea:not([disabled])',
  'input:not([disabled]):not([type="hidden"])',
  'select:not([disabled])',
  '[tabindex]:not([tabindex="-1"])',
].join(',');

export function focusableWithin(container: HTMLElement): HTMLElement[] {
  return Array.from(container.querySelectorAll<HTMLElement>(FOCUSABLE)).filter(
    (el) => !el.hasAttribute('inert') && el.getAttribute('aria-hidden') !== 'true',
  );
}

/** Handles Tab for a trap; returns true when it moved focus itself. */
export function trapTab(event: { key: string; shiftKey: boolean; preventDefault(): void }, container: HTMLElement): boolean {
  if (event.key !== 'Tab') return false;
  const items = focusableWithin(container);
  if (items.length === 0) {
    event.preventDefault();
    return true;
  }
  const first = items[0]!;
  const last = items[items.length - 1]!;
  const active = document.activeElement;
  if (event.shiftKey && (active === first || !container.contains(active))) {
    event.preventDefault();
    last.focus();
    return true;
  }
  if (!event.shiftKey && (active === last || !container.contains(active))) {
    event.preventDefault();
    first.focus();
    return true;
  }
  return false;
}

export function useFocusTrap(
  containerRef: RefObject<HTMLElement | null>,
  initialFocusRef?: RefObject<HTMLElement | null>,
): void {
  useEffect(() => {
    const opener = document.activeElement as HTMLElement | null;
    const container = containerRef.current;
    if (container) {
      const initial = initialFocusRef?.current;
      // A disabled initial target (read-only composer) cannot take focus: use the first that can.
      const usable = initial && !initial.matches(':disabled') ? initial : undefined;
      const target = usable ?? focusableWithin(container)[0] ?? container;
      target.focus();
    }
    return () => {
      if (opener && typeof opener.focus === 'function' && opener.isConnected) opener.focus();
    };
    // Only on mount/unmount: re-running would steal focus while the user works in the dialog.
  }, []);
}
