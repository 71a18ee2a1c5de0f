import { afterEach, describe, expect, it } from 'vitest';
import { markPlatform, osFromUserAgent } from './platform';

describe('platform', () => {
  afterEach(() => delete document.documentElement.dataset.os);

  it('recognizes each desktop web view by its user agent', () => {
    expect(
      osFromUserAgent(
        'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.0 Safari/605.1.15',
      ),
    ).toBe('linux');
    expect(
      osFromUserAgent(
        'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36 Edg/120.0.0.0',
      ),
    ).toBe('windows');
    expect(
      osFromUserAgent('Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko)'),
    ).toBe('macos');
  });

  it('marks <html> so that app.css picks the font stacks', () => {
    expect(markPlatform(document, 'Mozilla/5.0 (Windows NT 10.0)')).toBe('windows');
    expect(document.documentElement.dataset.os).toBe('windows');
  });
});
