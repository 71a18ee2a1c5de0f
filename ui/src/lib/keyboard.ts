/**
 * Keyboard behaviour shared by every form: Enter submits, except while an input method (IME) is
 * composing — Japanese users press Enter to confirm a conversion, which must never submit.
 */
import type { Action } from 'svelte/action';

/** True while an IME is composing (Safari/WebKit reports keyCode 229 instead of isComposing). */
export function isImeComposing(event: KeyboardEvent): boolean {
  return event.isComposing || event.keyCode === 229;
}

function submitsOnEnter(target: EventTarget | null): target is HTMLInputElement {
  if (!(target instanceof HTMLInputElement)) return false;
  return !['button', 'submit', 'reset', 'checkbox', 'radio', 'file', 'image'].includes(target.type);
}

/**
 * Use on a `<form>`: Enter in a text field submits the form (through `requestSubmit`, so the
 * submit handler and validation run), and is swallowed while an IME composes.
 */
export const enterSubmits: Action<HTMLFormElement> = (form) => {
  let composing = false;
  const start = () => (composing = true);
  const end = () => (composing = false);
  const keydown = (event: KeyboardEvent) => {
    if (event.key !== 'Enter' || !submitsOnEnter(event.target)) return;
    event.preventDefault();
    if (composing || isImeComposing(event)) {
      event.stopPropagation();
      return;
    }
    const submitter = form.querySelector<HTMLButtonElement>('button[type=submit]:not([disabled])');
    if (submitter || !form.querySelector('button[type=submit]')) form.requestSubmit(submitter ?? undefined);
  };
  form.addEventListener('compositionstart', start);
  form.addEventListener('compositionend', end);
  form.addEventListener('keydown', keydown, true);
  return {
    destroy() {
      form.removeEventListener('compositionstart', start);
      form.removeEventListener('compositionend', end);
      form.removeEventListener('keydown', keydown, true);
    },
  };
};

/** Calls `handler` when Escape is pressed (not while composing): closes dialogs. */
export const onEscape: Action<HTMLElement, () => void> = (node, handler) => {
  let current = handler;
  const keydown = (event: KeyboardEvent) => {
    if (event.key === 'Escape' && !isImeComposing(event)) {
      event.preventDefault();
      event.stopPropagation();
      current?.();
    }
  };
  node.addEventListener('keydown', keydown);
  return {
    update(next) {
      current = next;
    },
    destroy() {
      node.removeEventListener('keydown', keydown);
    },
  };
};
