/**
 * The app ships its emoji (Noto Color Emoji from @fontsource/noto-color-emoji) and draws
 * its own icons as SVG, so a workstation without an emoji font shows no empty boxes.
 * These checks read the sources as files: that the font faces point at files the build
 * bundles, that they cover the picker's emoji, that the font stack and the CSP let the
 * webview use them, and that no emoji is left in the app's chrome. Whether WebKitGTK
 * really paints them is checked in the real window (docs/desktop-ipc.md, e2e).
 */
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { EMOJI } from '../features/messages/EmojiPicker';
import { en } from '../i18n/en';
import { fr } from '../i18n/fr';

const here = dirname(fileURLToPath(import.meta.url));
const ui = join(here, '..', '..');
const src = join(ui, 'src');
const read = (path: string) => readFileSync(path, 'utf8');

type Face = { family: string; url: string; ranges: [number, number][] };

function faces(css: string): Face[] {
  return [...css.matchAll(/@font-face\s*\{([^}]*)\}/g)].map(([, body]) => {
    const family = /font-family:\s*'([^']+)'/.exec(body!)?.[1] ?? '';
    const url = /src:\s*url\('([^']+)'\)/.exec(body!)?.[1] ?? '';
    const ranges = (/unicode-range:\s*([^;]+);/.exec(body!)?.[1] ?? '').split(',').map((part): [number, number] => {
      const [from, to] = part.trim().replace(/^U\+/i, '').split('-');
      return [parseInt(from!, 16), parseInt(to ?? from!, 16)];
    });
    return { family, url, ranges };
  });
}

function walk(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? walk(path) : [path];
  });
}

const PICTOGRAPH = /\p{Extended_Pictographic}/u;

describe('shipped emoji font', () => {
  const css = read(join(src, 'fonts', 'emoji.css'));
  const list = faces(css);

  it('is imported by the entry point', () => {
    expect(read(join(src, 'main.tsx'))).toMatch(/import '\.\/fonts\/emoji\.css';/);
  });

  it('declares Noto Color Emoji faces whose woff2 files exist in the installed package', () => {
    expect(list.length).toBeGreaterThan(5);
    for (const face of list) {
      expect(face.family).toBe('Noto Color Emoji');
      expect(face.url).toMatch(/^@fontsource\/noto-color-emoji\/files\/.+\.woff2$/);
      expect(existsSync(join(ui, 'node_modules', face.url)), face.url).toBe(true);
    }
    expect(css).not.toMatch(/\.woff\)|format\('woff'\)/);
  });

  it('covers every emoji of the picker and the usual ones of messages', () => {
    const covered = (cp: number) => list.some((f) => f.ranges.some(([a, b]) => cp >= a && cp <= b));
    const sample = [...EMOJI, '👍', '🙏', '❤️', '😀', '🩺', '💊', '🔬', '⚠️', '🇫🇷'];
    for (const emoji of sample) {
      for (const char of emoji) expect(covered(char.codePointAt(0)!), `${emoji} U+${char.codePointAt(0)!.toString(16)}`).toBe(true);
    }
  });

  it('ends the font stacks so text glyphs come from the system font and emoji from the shipped one', () => {
    const tailwind = read(join(ui, 'tailwind.config.ts'));
    expect(tailwind).toMatch(/EMOJI_FONT = 'Noto Color Emoji'/);
    expect(tailwind).toMatch(/sans: \['ui-sans-serif', 'system-ui', 'sans-serif', `"\$\{EMOJI_FONT\}"`\]/);
    expect(read(join(src, 'features', 'messages', 'EmojiPicker.tsx'))).toMatch(/font-emoji/);
  });

  it('loads from the app’s own origin: files, never data: URLs, allowed by the CSP', () => {
    expect(read(join(ui, 'vite.config.ts'))).toMatch(/assetsInlineLimit: 0/);
    const conf = JSON.parse(read(join(ui, '..', 'src-tauri', 'tauri.conf.json'))) as { app: { security: { csp: string } } };
    const fontSrc = conf.app.security.csp.split(';').map((d) => d.trim()).find((d) => d.startsWith('font-src'));
    expect(fontSrc).toBe("font-src 'self'");
  });
});

describe('the app’s own icons', () => {
  it('are SVG: no emoji character in components or texts, except the emoji picker’s set', () => {
    const offenders = walk(src)
      .filter((path) => /\.tsx?$/.test(path) && !/\.test\.tsx?$/.test(path) && !path.endsWith('EmojiPicker.tsx'))
      .filter((path) => !path.includes(`${join('src', 'i18n')}`))
      .filter((path) => read(path).split('\n').some((line) => PICTOGRAPH.test(line) && !line.trim().startsWith('*') && !line.trim().startsWith('//')))
      .map((path) => relative(src, path));
    expect(offenders).toEqual([]);
    for (const dict of [fr, en]) {
      const withEmoji = Object.entries(dict).filter(([, text]) => PICTOGRAPH.test(text));
      expect(withEmoji).toEqual([]);
    }
  });
});
