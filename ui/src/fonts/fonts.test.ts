/**
 * The app ships its emoji (Noto Color Emoji from @fontsource/noto-color-emoji) and draws
 * its own icons as SVG, so a workstation without an emoji font shows no empty boxes.
 * These checks read the sources as files: that the font faces point at files the build
 * bundles, that they cover the picker's emoji, that the font stack and the CSP let the
 * webview use them, and that no emoji is left in the app's chrome. Whether WebKitGTK
 * really paints them is checked in the real window (docs/desktop-ipc.md, e2e).
 */
import { describe, expect, it } from 'vitest';
import emojiCss from './emoji.css?raw';
import mainSource from '../main.tsx?raw';
import pickerSource from '../features/messages/EmojiPicker.tsx?raw';
import tailwindConfig from '../../tailwind.config.ts?raw';
import viteConfig from '../../vite.config.ts?raw';
import tauriConf from '../../../src-tauri/tauri.conf.json?raw';
import { EMOJI } from '../features/messages/EmojiPicker';
import { en } from '../i18n/en';
import { fr } from '../i18n/fr';

/** The woff2 files the installed package really has (Vite resolves the glob at build time). */
const packageFiles = Object.keys(import.meta.glob('/node_modules/@fontsource/noto-color-emoji/files/*.woff2')).map((path) =>
  path.replace('/node_modules/', ''),
);
/** The app's own sources (not tests, not the emoji picker's set, not the dictionaries, checked below). */
const sources = import.meta.glob<string>(['../**/*.{ts,tsx}', '!../**/*.test.{ts,tsx}', '!../features/messages/EmojiPicker.tsx', '!../i18n/**'], {
  query: '?raw',
  import: 'default',
  eager: true,
});

type Face = { family: string; url: string; ranges: [number, number][] };

function faces(css: string): Face[] {
  return [...css.matchAll(/@font-face\s*\{([^}]*)\}/g)].map(([, body]) => {
    const family = /font-family:\s*'([^']+)'/.exec(body!)?.[1] ?? '';
    const url = /src:\s*url\('([^']+)'\)/.exec(body!)?.[1] ?? '';
    const ranges = (/unicode-range:\s*([^;]+);/.exec(body!)?.[1] ?? '').split(/,\s*/).map((part): [number, number] => {
      const [from, to] = part.trim().replace(/^U\+/i, '').split('-');
      return [parseInt(from!, 16), parseInt(to ?? from!, 16)];
    });
    return { family, url, ranges };
  });
}

const PICTOGRAPH = /\p{Extended_Pictographic}/u;

describe('shipped emoji font', () => {
  const list = faces(emojiCss);

  it('is imported by the entry point', () => {
    expect(mainSource).toMatch(/import '\.\/fonts\/emoji\.css';/);
  });

  it('declares one Noto Color Emoji face whose woff2 file exists in the installed package', () => {
    // One face: WebKitGTK cannot draw a sequence (❤️ = U+2764 U+FE0F) across overlapping slices.
    expect(list).toHaveLength(1);
    for (const face of list) {
      expect(face.family).toBe('Noto Color Emoji');
      expect(face.url).toMatch(/^@fontsource\/noto-color-emoji\/files\/.+\.woff2$/);
      expect(packageFiles, face.url).toContain(face.url);
    }
    expect(emojiCss).not.toMatch(/\.woff\)|format\('woff'\)/);
  });

  it('covers every emoji of the picker and the usual ones of messages', () => {
    const covered = (cp: number) => list.some((f) => f.ranges.some(([a, b]) => cp >= a && cp <= b));
    const sample = [...EMOJI, '👍', '🙏', '❤️', '😀', '🩺', '💊', '🔬', '⚠️', '🇫🇷'];
    for (const emoji of sample) {
      for (const char of emoji) expect(covered(char.codePointAt(0)!), `${emoji} U+${char.codePointAt(0)!.toString(16)}`).toBe(true);
    }
  });

  it('ends the font stacks so text glyphs come from the system font and emoji from the shipped one', () => {
    expect(tailwindConfig).toMatch(/EMOJI_FONT = 'Noto Color Emoji'/);
    expect(tailwindConfig).toMatch(/sans: \['ui-sans-serif', 'system-ui', 'sans-serif', `"\$\{EMOJI_FONT\}"`\]/);
    expect(pickerSource).toMatch(/font-emoji/);
  });

  it('loads from the app’s own origin: files, never data: URLs, allowed by the CSP', () => {
    expect(viteConfig).toMatch(/assetsInlineLimit: 0/);
    const conf = JSON.parse(tauriConf) as { app: { security: { csp: string } } };
    const fontSrc = conf.app.security.csp.split(';').map((d) => d.trim()).find((d) => d.startsWith('font-src'));
    expect(fontSrc).toBe("font-src 'self'");
  });
});

describe('the app’s own icons', () => {
  it('are SVG: no emoji character in components or texts, except the emoji picker’s set', () => {
    expect(Object.keys(sources).length).toBeGreaterThan(40);
    const offenders = Object.entries(sources)
      .filter(([, text]) => text.split('\n').some((line) => PICTOGRAPH.test(line) && !/^\s*(\*|\/\/|\/\*\*)/.test(line)))
      .map(([path]) => path);
    expect(offenders).toEqual([]);
    for (const dict of [fr, en]) {
      const withEmoji = Object.entries(dict).filter(([, text]) => PICTOGRAPH.test(text));
      expect(withEmoji).toEqual([]);
    }
  });
});
