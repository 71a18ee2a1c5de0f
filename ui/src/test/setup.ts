import { cleanup } from '@testing-library/svelte';
import { clearMocks } from '@tauri-apps/api/mocks';
import { afterEach } from 'vitest';
import { app } from '../lib/app.svelte';
import { setLang } from '../lib/i18n';

afterEach(() => {
  cleanup();
  clearMocks();
  localStorage.clear();
  sessionStorage.clear();
  Object.assign(app, { info: null, overview: null, mode: null, step: 1 });
  setLang('en');
});
