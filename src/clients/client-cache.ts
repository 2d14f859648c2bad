import { LRUCache } from 'lru-cache';
import type { ClientRecord } from './client-record.js';

/** How long an unknown client id is remembered, so probes for random ids do not reach the database. */
const MISS_TTL_MS = 10_000;
const MISS = Symbol('miss');

/** A bounded LRU of client records, invalidated through the event bus. */
export class ClientCache {
  private readonly lru: LRUCache<string, ClientRecord | typeof MISS>;

  constructor(max: number) {
    this.lru = new LRUCache({ max });
  }

  /** undefined = not cached; null = known not to exist. */
  get(id: string): ClientRecord | null | undefined {
    const entry = this.lru.get(id);
    return entry === MISS ? null : entry;
  }

  set(id: string, record: ClientRecord | null): void {
    if (record === null) this.lru.set(id, MISS, { ttl: MISS_TTL_MS });
    else this.lru.set(id, record);
  }

  invalidate(id: string): void {
    if (id === '*') this.lru.clear();
    else this.lru.delete(id);
  }
}
