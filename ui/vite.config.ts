/// <reference types="vitest/config" />
// Vite builds the UI into ui/dist for the Tauri shell; the same file configures Vitest.
import { defineConfig } from 'vite';
import react from '@vitejs/plugin-react';

// Dates in tests are asserted in French local time; pin the zone so CI agrees with laptops.
process.env.TZ = 'Europe/Paris';

export default defineConfig({
  plugins: [react()],
  // Relative asset URLs work both under Tauri's custom protocol and a plain static server.
  base: './',
  clearScreen: false,
  server: {
    port: 5173,
    strictPort: true,
    // The font test reads the shell's CSP (src/fonts/fonts.test.ts); nothing else outside ui/.
    fs: { allow: ['.', '../src-tauri'] },
  },
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    target: 'es2022',
    // No inline polyfill script: the app runs under `default-src 'self'`.
    modulePreload: { polyfill: false },
    sourcemap: false,
    // Never inline assets as data: URLs: the CSP allows fonts from 'self' only, and the
    // emoji font slices must stay separate files the webview loads on demand.
    assetsInlineLimit: 0,
  },
  test: {
    environment: 'jsdom',
    setupFiles: ['./src/test/setup.ts'],
    include: ['src/**/*.test.{ts,tsx}'],
    // CSS is not processed in tests, except the emoji font faces read raw by src/fonts/fonts.test.ts.
    css: { include: [/fonts\/emoji\.css/] },
    testTimeout: 15000,
  },
});
