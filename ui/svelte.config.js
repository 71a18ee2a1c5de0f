import { vitePreprocess } from '@sveltejs/vite-plugin-svelte';

/** @type {import('@sveltejs/vite-plugin-svelte').SvelteConfig} */
export default {
  preprocess: vitePreprocess(),
  compilerOptions: {
    // The strict CSP (style-src 'self') forbids injected <style> tags: component CSS must be
    // emitted into the bundle's CSS file.
    css: 'external',
    runes: true,
  },
};
