// A per-worker map with expiry and a fixed maximum size (oldest insertion goes first): the
// remembered answers of auth checks. Plain Map insertion order is the eviction order.

export class BoundedCache<V> {
  readonly #map = new Map<string, { value: V; expires: number }>();
  readonly #max: number;

  constructor(max: number) {
    this.#max = max;
  }

  get(key: string, now: number): V | undefined {
    const e = this.#map.get(key);
    if (e === undefined) return undefined;
    if (e.expires <= now) {
      this.#map.delete(key);
      return undefined;
    }
    return e.value;
  }

  set(key: string, value: V, expires: number): void {
    this.#map.delete(key);
    if (this.#map.size >= this.#max) this.#map.delete(this.#map.keys().next().value!);
    this.#map.set(key, { value, expires });
  }

  get size(): number {
    return this.#map.size;
  }
}
