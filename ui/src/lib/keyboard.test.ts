import { describe, expect, it, vi } from 'vitest';
import { enterSubmits, isImeComposing } from './keyboard';

function setup() {
  document.body.innerHTML =
    '<form><input id="name" type="text"><select id="pick"><option>a</option></select><button type="submit">Go</button></form>';
  const form = document.querySelector('form') as HTMLFormElement;
  const submitted = vi.fn((e: Event) => e.preventDefault());
  form.addEventListener('submit', submitted);
  const action = enterSubmits(form);
  const input = document.getElementById('name') as HTMLInputElement;
  return { form, input, submitted, destroy: () => action?.destroy?.() };
}

function enter(target: Element, init: KeyboardEventInit = {}) {
  const event = new KeyboardEvent('keydown', { key: 'Enter', bubbles: true, cancelable: true, ...init });
  target.dispatchEvent(event);
  return event;
}

describe('isImeComposing', () => {
  it('detects isComposing and the keyCode 229 WebKit sends', () => {
    expect(isImeComposing(new KeyboardEvent('keydown', { key: 'Enter', isComposing: true }))).toBe(true);
    expect(isImeComposing(new KeyboardEvent('keydown', { key: 'Enter', keyCode: 229 } as KeyboardEventInit))).toBe(true);
    expect(isImeComposing(new KeyboardEvent('keydown', { key: 'Enter', keyCode: 13 } as KeyboardEventInit))).toBe(false);
  });
});

describe('enterSubmits', () => {
  it('submits the form on a plain Enter in a text field', () => {
    const { input, submitted, destroy } = setup();
    const event = enter(input);
    expect(submitted).toHaveBeenCalledTimes(1);
    expect(event.defaultPrevented).toBe(true);
    destroy();
  });

  it('ignores Enter while an IME is composing (isComposing)', () => {
    const { input, submitted, destroy } = setup();
    const event = enter(input, { isComposing: true });
    expect(submitted).not.toHaveBeenCalled();
    expect(event.defaultPrevented).toBe(true);
    destroy();
  });

  it('ignores Enter with keyCode 229 and between compositionstart and compositionend', () => {
    const { input, submitted, destroy } = setup();
    enter(input, { keyCode: 229 } as KeyboardEventInit);
    input.dispatchEvent(new CompositionEvent('compositionstart', { bubbles: true }));
    enter(input);
    expect(submitted).not.toHaveBeenCalled();
    input.dispatchEvent(new CompositionEvent('compositionend', { bubbles: true }));
    enter(input);
    expect(submitted).toHaveBeenCalledTimes(1);
    destroy();
  });

  it('does not submit while the submit button is disabled', () => {
    const { form, input, submitted, destroy } = setup();
    (form.querySelector('button') as HTMLButtonElement).disabled = true;
    enter(input);
    expect(submitted).not.toHaveBeenCalled();
    destroy();
  });

  it('leaves other keys and other elements alone', () => {
    const { input, submitted, destroy } = setup();
    const other = new KeyboardEvent('keydown', { key: 'a', bubbles: true, cancelable: true });
    input.dispatchEvent(other);
    enter(document.getElementById('pick') as Element);
    expect(submitted).not.toHaveBeenCalled();
    expect(other.defaultPrevented).toBe(false);
    destroy();
  });
});
