import { LRUCache } from 'lru-cache';
import { cacheCounters } from '../health/metrics-registry.js';
import type { ClientRecord } from './client-record.js';

/** How long an unknown client id is remembered, so probes for random ids do not reach the database. */
const MISS_TTL_MS = 10_000;
const MISS = Symbol('miss');
const lookups = cacheCounters('client');

/** A bounded LRU of client records, invalidated through the event bus. */
export class ClientCache {
  private readonly lru: LRUCache<string, ClientRecord | typeof MISS>;
  /** Bumped by every invalidation; see `set`. */
  private invalidations = 0;

  constructor(max: number) {
    this.lru = new LRUCache({ max });
  }

  /** undefined = not cached; null = known not to exist. */
  get(id: string): ClientRecord | null | undefined {
    const entry = this.lru.get(id);
    // A remembered unknown id is a hit too: it was answered without the database.
    if (entry === undefined) lookups.miss.value++;
    else lookups.hit.value++;
    return entry === MISS ? null : entry;
  }

  /** Pass to `set` with the result of a database read started now. */
  get generation(): number {
    return this.invalidations;
  }

  /**
   * Caches what a read started at `generation` returned, unless an invalidation arrived while it
   * was in flight: that read may have seen the row from before the change, and caching it would
   * keep, say, a rotated-out secret working on this node until eviction.
   */
  set(id: string, record: ClientRecord | null, generation: number): void {
    if (generation !== this.invalidations) return;
    if (record === null) this.lru.set(id, MISS, { ttl: MISS_TTL_MS });
    else this.lru.set(id, record);
  }

  invalidate(id: string): void {
    this.invalidations++;
    if (id === '*') this.lru.clear();
    else this.lru.delete(id);
  }
}
