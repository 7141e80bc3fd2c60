/**
 * jsdom has no layout, hence no IntersectionObserver. This stand-in records what the app
 * observes (per root) and lets a test say which elements are on screen, so the
 * read-receipt logic runs as in the webview; the real one is exercised under WebDriver.
 */
import { act } from '@testing-library/react';
import { vi } from 'vitest';

type Observer = {
  callback: IntersectionObserverCallback;
  root: Element | Document | null;
  targets: Set<Element>;
  self: IntersectionObserver;
};

/** `everythingVisible`: every observed element is on screen (a short list in a tall window). */
export function installIntersectionObserver({ everythingVisible = false } = {}) {
  const observers = new Set<Observer>();
  /** Elements the test says are on screen. */
  const onScreen = new Set<Element>();
  const hidden = new Set<Element>();
  const isVisible = (el: Element) => (everythingVisible ? !hidden.has(el) : onScreen.has(el));

  class FakeIntersectionObserver implements IntersectionObserver {
    readonly root: Element | Document | null;
    readonly rootMargin = '0px';
    readonly thresholds: readonly number[];
    readonly scrollMargin = '0px';
    private readonly entry: Observer;

    constructor(callback: IntersectionObserverCallback, options: IntersectionObserverInit = {}) {
      this.root = options.root ?? null;
      this.thresholds = Array.isArray(options.threshold) ? options.threshold : [options.threshold ?? 0];
      this.entry = { callback, root: this.root, targets: new Set(), self: this };
      observers.add(this.entry);
    }
    observe(target: Element) {
      if (this.entry.targets.has(target)) return;
      this.entry.targets.add(target);
      // Like the browser: an initial entry for each newly observed target.
      const visible = isVisible(target);
      queueMicrotask(() => {
        if (observers.has(this.entry) && this.entry.targets.has(target)) this.entry.callback([entryFor(target, visible)], this);
      });
    }
    unobserve(target: Element) {
      this.entry.targets.delete(target);
    }
    disconnect() {
      observers.delete(this.entry);
    }
    takeRecords(): IntersectionObserverEntry[] {
      return [];
    }
  }

  function entryFor(target: Element, visible: boolean): IntersectionObserverEntry {
    const box = { height: visible ? 40 : 0 } as DOMRectReadOnly;
    return { target, isIntersecting: visible, intersectionRatio: visible ? 1 : 0, intersectionRect: box, rootBounds: null } as IntersectionObserverEntry;
  }

  vi.stubGlobal('IntersectionObserver', FakeIntersectionObserver);

  return {
    /** Elements currently observed, across observers. */
    observed: () => [...observers].flatMap((o) => [...o.targets]),
    /** Puts elements on or off screen and notifies the observers watching them. */
    async setVisible(elements: Element[], visible: boolean) {
      await act(async () => {
        for (const el of elements) {
          if (visible) {
            onScreen.add(el);
            hidden.delete(el);
          } else {
            onScreen.delete(el);
            hidden.add(el);
          }
          for (const o of observers) if (o.targets.has(el)) o.callback([entryFor(el, visible)], o.self);
        }
      });
    },
  };
}
