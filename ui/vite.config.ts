/// <reference types="vitest/config" />
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { defineConfig, type Plugin } from 'vite';
import { svelte } from '@sveltejs/vite-plugin-svelte';

/** The catalogue sections the first screen (header, start screen, loading/failure line) shows. */
const BOOT_SECTIONS = ['app', 'header', 'lang', 'start', 'demo'];

/**
 * `virtual:i18n-boot`: BOOT_SECTIONS of ja.json and en.json, for the entry chunk. A module of its own,
 * so that the full catalogues stay in chunks loaded after the first paint (src/lib/i18n/index.ts).
 */
function i18nBoot(): Plugin {
  const id = 'virtual:i18n-boot';
  const resolved = `\0${id}`;
  return {
    name: 'exo-i18n-boot',
    resolveId: (source) => (source === id ? resolved : undefined),
    load(loading) {
      if (loading !== resolved) return undefined;
      const boot: Record<string, Record<string, unknown>> = {};
      for (const lang of ['ja', 'en']) {
        const file = fileURLToPath(new URL(`./src/lib/i18n/${lang}.json`, import.meta.url));
        this.addWatchFile(file);
        const all = JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
        boot[lang] = Object.fromEntries(BOOT_SECTIONS.map((k) => [k, all[k]]));
      }
      return `export default ${JSON.stringify(boot)};`;
    },
  };
}

export default defineConfig({
  plugins: [svelte(), i18nBoot()],
  clearScreen: false,
  server: { port: 5173, strictPort: true },
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    // WebKitGTK 2.4x (Safari 17-level): no syntax lowering, no legacy polyfills.
    target: 'es2022',
    // Nothing inlined as data: URLs into scripts; keeps the CSP simple.
    assetsInlineLimit: 0,
    // WebKit supports <link rel="modulepreload">: no polyfill in the entry.
    modulePreload: { polyfill: false },
    // Each lazily loaded screen brings its own stylesheet (a <link>, allowed by style-src 'self').
    cssCodeSplit: true,
  },
  resolve: process.env.VITEST ? { conditions: ['browser'] } : undefined,
  test: {
    environment: 'happy-dom',
    include: ['src/**/*.test.ts'],
    setupFiles: ['src/test/setup.ts'],
    restoreMocks: true,
  },
});
