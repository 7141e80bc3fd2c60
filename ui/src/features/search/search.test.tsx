import { render, screen } from '@testing-library/react';
import { describe, expect, it } from 'vitest';
import { Snippet, decodeEntities, splitSnippet } from './snippet';

describe('search snippets', () => {
  it('splits on <mark> and decodes the escaped text around it', () => {
    expect(splitSnippet('Je prends l&#39;<mark>amoxicilline</mark> &amp; du parac&eacute;tamol')).toEqual([
      { text: 'Je prends l\'', match: false },
      { text: 'amoxicilline', match: true },
      { text: ' & du parac&eacute;tamol', match: false },
    ]);
    expect(decodeEntities('&lt;b&gt; &quot;x&quot; &#x1F48A;')).toBe('<b> "x" 💊');
  });

  it('renders matches as <mark> elements and nothing else as markup', () => {
    const { container } = render(
      <p data-testid="s">
        <Snippet snippet={'Résultat <mark>cholestérol</mark> &lt;img src=x onerror=alert(1)&gt; à revoir'} />
      </p>,
    );
    const marks = container.querySelectorAll('mark');
    expect(marks).toHaveLength(1);
    expect(marks[0]).toHaveTextContent('cholestérol');
    expect(container.querySelector('img')).toBeNull();
    expect(screen.getByTestId('s')).toHaveTextContent('Résultat cholestérol <img src=x onerror=alert(1)> à revoir');
  });

  it('keeps an unescaped <img onerror> in a snippet as literal text, never an element', () => {
    const { container } = render(
      <p>
        <Snippet snippet={'<img src=x onerror=alert(1)><mark>posologie</mark><script>alert(2)</script>'} />
      </p>,
    );
    expect(container.querySelector('img')).toBeNull();
    expect(container.querySelector('script')).toBeNull();
    expect(container.querySelector('mark')).toHaveTextContent('posologie');
    expect(container).toHaveTextContent('<img src=x onerror=alert(1)>posologie<script>alert(2)</script>');
  });
});
