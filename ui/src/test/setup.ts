// Test environment: jest-dom matchers, a focused window (jsdom reports none), and a
// clean Tauri mock and DOM after each test.
import '@testing-library/jest-dom/vitest';
import { cleanup, configure } from '@testing-library/react';
import { clearMocks } from '@tauri-apps/api/mocks';
import { afterEach, beforeEach, vi } from 'vitest';

// find*/waitFor give up after 1 s by default: too short on a loaded CI machine (the
// whole app renders in these tests). Waiting longer only delays a real failure.
configure({ asyncUtilTimeout: 5000 });

beforeEach(() => {
  vi.spyOn(document, 'hasFocus').mockReturnValue(true);
});

afterEach(() => {
  cleanup();
  clearMocks();
  vi.restoreAllMocks();
  vi.unstubAllGlobals();
  vi.useRealTimers();
  document.title = '';
});
