// Tailwind theme: the app's animations live here so that every one of them can be
// switched off with the `motion-safe:` / `motion-reduce:` variants. The font stacks end
// with "Noto Color Emoji", the emoji font the app ships (src/fonts/emoji.css): text
// glyphs come from the system font, emoji from the shipped font when the system has none.
import type { Config } from 'tailwindcss';

export const EMOJI_FONT = 'Noto Color Emoji';

export default {
  content: ['./index.html', './src/**/*.{ts,tsx}'],
  theme: {
    extend: {
      fontFamily: {
        sans: ['ui-sans-serif', 'system-ui', 'sans-serif', `"${EMOJI_FONT}"`],
        /** Emoji first: the picker and emoji-only text. */
        emoji: [`"${EMOJI_FONT}"`, 'sans-serif'],
      },
      keyframes: {
        'slide-in': {
          from: { transform: 'translateX(100%)', opacity: '0.6' },
          to: { transform: 'translateX(0)', opacity: '1' },
        },
        'fade-in': {
          from: { opacity: '0' },
          to: { opacity: '1' },
        },
        'message-appear': {
          from: { opacity: '0', transform: 'translateY(6px) scale(0.98)' },
          to: { opacity: '1', transform: 'translateY(0) scale(1)' },
        },
        'typing-pulse': {
          '0%, 80%, 100%': { opacity: '0.25', transform: 'translateY(0)' },
          '40%': { opacity: '1', transform: 'translateY(-3px)' },
        },
        flash: {
          '0%, 100%': { boxShadow: '0 0 0 0 rgba(250, 204, 21, 0)' },
          '30%': { boxShadow: '0 0 0 6px rgba(250, 204, 21, 0.7)' },
        },
      },
      animation: {
        'slide-in': 'slide-in 220ms cubic-bezier(0.16, 1, 0.3, 1)',
        'fade-in': 'fade-in 150ms ease-out',
        'message-appear': 'message-appear 180ms ease-out',
        'typing-pulse': 'typing-pulse 1.2s ease-in-out infinite',
        flash: 'flash 1.2s ease-in-out 2',
      },
    },
  },
  plugins: [],
} satisfies Config;
