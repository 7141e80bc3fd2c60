/**
 * Search snippets come as text with `<mark>…</mark>` around matches and everything else
 * HTML-escaped. They are never parsed as HTML: the string is split on the two mark tags,
 * entities are decoded to plain text, and React renders the pieces as text nodes. Any
 * other tag-looking text (`<img onerror=…>`) stays literal text.
 */
import { Fragment } from 'react';

export type SnippetPart = { text: string; match: boolean };

const ENTITIES: Record<string, string> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'", nbsp: '\u00a0' };

export function decodeEntities(text: string): string {
  return text.replace(/&(#x[0-9a-f]+|#\d+|[a-z]+);/gi, (whole, body: string) => {
    if (body[0] === '#') {
      const code = body[1] === 'x' || body[1] === 'X' ? parseInt(body.slice(2), 16) : parseInt(body.slice(1), 10);
      return Number.isFinite(code) && code > 0 && code <= 0x10ffff ? String.fromCodePoint(code) : whole;
    }
    return ENTITIES[body.toLowerCase()] ?? whole;
  });
}

export function splitSnippet(snippet: string): SnippetPart[] {
  const parts: SnippetPart[] = [];
  const pattern = /<mark>([\s\S]*?)<\/mark>/g;
  let last = 0;
  for (let match = pattern.exec(snippet); match; match = pattern.exec(snippet)) {
    if (match.index > last) parts.push({ text: decodeEntities(snippet.slice(last, match.index)), match: false });
    parts.push({ text: decodeEntities(match[1] ?? ''), match: true });
    last = match.index + match[0].length;
  }
  if (last < snippet.length) parts.push({ text: decodeEntities(snippet.slice(last)), match: false });
  return parts.filter((p) => p.text !== '');
}

export function Snippet({ snippet }: { snippet: string }) {
  return (
    <>
      {splitSnippet(snippet).map((part, i) =>
        part.match ? (
          <mark key={i} className="rounded bg-yellow-200 px-0.5 text-slate-900">
            {part.text}
          </mark>
        ) : (
          <Fragment key={i}>{part.text}</Fragment>
        ),
      )}
    </>
  );
}
