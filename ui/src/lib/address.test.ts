import { describe, expect, it } from 'vitest';
import { addressKey, sameAddress } from './address';

describe('address matching (the store’s rule: trimmed, COLLATE NOCASE)', () => {
  it('ignores surrounding spaces and the case of ASCII letters', () => {
    expect(addressKey('  Taro.Yamada@Contoso.COM \n')).toBe('taro.yamada@contoso.com');
    expect(sameAddress(' TARO@contoso.com', 'taro@CONTOSO.com ')).toBe(true);
  });

  it('tells different mailboxes apart', () => {
    expect(sameAddress('taro@contoso.com', 'taro@contoso.co')).toBe(false);
    expect(sameAddress('taro@contoso.com', 'ta ro@contoso.com')).toBe(false);
  });

  it('folds only ASCII letters, like SQLite’s NOCASE', () => {
    // NOCASE leaves non-ASCII letters alone, so neither may the UI.
    expect(addressKey('ÉLISE@contoso.com')).toBe('Élise@contoso.com');
    expect(sameAddress('élise@contoso.com', 'Élise@contoso.com')).toBe(false);
  });
});
