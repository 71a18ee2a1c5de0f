import { mount } from 'svelte';
import App from './App.svelte';
import './app.css';
import { markPlatform } from './lib/shell/platform';

// Before the first paint: app.css picks the platform's font stacks by it.
markPlatform();

const target = document.getElementById('app');
if (!target) throw new Error('#app is missing from index.html');

export default mount(App, { target });
