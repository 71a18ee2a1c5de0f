/**
 * Pages of the account list, fetched on demand as the list scrolls. Responses to a superseded
 * search are dropped (each reset starts a new generation), so a slow old answer never overwrites
 * a newer one.
 */
import type { AccountPage } from '../../bindings/AccountPage';
import type { AccountQuery } from '../../bindings/AccountQuery';
import type { AccountRow } from '../../bindings/AccountRow';
import type { UiError } from '../../bindings/UiError';
import { toUiError } from '../errors/uiError';

export const PAGE_SIZE = 200;

export class AccountPager {
  /** Matches of the current search; null until the first page arrives. */
  total = $state<number | null>(null);
  error = $state<UiError | null>(null);
  /** Bumped whenever pages change, so readers of `row()` re-render. */
  version = $state(0);

  #pages = new Map<number, AccountRow[]>();
  #pending = new Set<number>();
  #generation = 0;
  #search = '';
  readonly #fetch: (query: AccountQuery) => Promise<AccountPage>;
  readonly pageSize: number;

  constructor(fetch: (query: AccountQuery) => Promise<AccountPage>, pageSize = PAGE_SIZE) {
    this.#fetch = fetch;
    this.pageSize = pageSize;
  }

  get search(): string {
    return this.#search;
  }

  /** Starts over with `search` (also used to refresh after a change), loading the first page. */
  reset(search: string, keepTotal = false): void {
    this.#generation += 1;
    this.#search = search;
    this.#pages.clear();
    this.#pending.clear();
    if (!keepTotal) this.total = null;
    this.error = null;
    this.version += 1;
    void this.#load(0);
  }

  /** The row at `index`, or undefined while its page is loading. */
  row(index: number): AccountRow | undefined {
    void this.version;
    return this.#pages.get(Math.floor(index / this.pageSize))?.[index % this.pageSize];
  }

  /** Makes sure the pages covering rows [start, end) are loaded or loading. */
  ensure(start: number, end: number): void {
    if (end <= start) return;
    const first = Math.floor(start / this.pageSize);
    const last = Math.floor((end - 1) / this.pageSize);
    for (let page = first; page <= last; page += 1) {
      if (!this.#pages.has(page) && !this.#pending.has(page)) void this.#load(page);
    }
  }

  async #load(page: number): Promise<void> {
    const generation = this.#generation;
    this.#pending.add(page);
    try {
      const result = await this.#fetch({
        search: this.#search,
        status: null,
        offset: page * this.pageSize,
        limit: this.pageSize,
      });
      if (generation !== this.#generation) return;
      this.#pages.set(page, result.rows);
      this.total = Number(result.total);
      this.version += 1;
    } catch (e) {
      if (generation === this.#generation) this.error = toUiError(e);
    } finally {
      if (generation === this.#generation) this.#pending.delete(page);
    }
  }
}
