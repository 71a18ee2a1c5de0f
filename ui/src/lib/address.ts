/**
 * The one way the UI compares mailbox addresses: trimmed, ASCII letters case-insensitive — the
 * rule of Rust's store (`trim()` and `COLLATE NOCASE`). Only for matching what already arrived
 * (an event, a notice, the typed text against suggestions); the account of an address is asked
 * of Rust (`api.findAccount`), never looked for here.
 */

/** `address` as the store compares it. */
export function addressKey(address: string): string {
  return address.trim().replace(/[A-Z]/g, (c) => c.toLowerCase());
}

/** Whether the store would take `a` and `b` for the same mailbox. */
export function sameAddress(a: string, b: string): boolean {
  return addressKey(a) === addressKey(b);
}
