import { describe, expect, it } from 'vitest';
import { en } from './en';
import { fr } from './fr';
import { translate } from './index';

describe('translations', () => {
  it('has a non-empty English text for every French key', () => {
    for (const key of Object.keys(fr) as (keyof typeof fr)[]) {
      expect(en[key], key).toBeTruthy();
    }
    expect(Object.keys(en).sort()).toEqual(Object.keys(fr).sort());
  });

  it('interpolates and picks French and English plural forms', () => {
    expect(translate('fr', 'unread.badge', { count: 1 })).toBe('1 message non lu');
    expect(translate('fr', 'unread.badge', { count: 3 })).toBe('3 messages non lus');
    expect(translate('en', 'unread.badge', { count: 1 })).toBe('1 unread message');
    expect(translate('fr', 'typing.one', { name: 'Dr Sophie Martin' })).toBe("Dr Sophie Martin est en train d'écrire…");
  });
});
