// Cache purge, behind an interface the admin API calls (and a Redis-backed cache could
// implement later): by URL, or every URL under a prefix; soft purge marks entries stale
// (served again only after revalidation) instead of removing them. The shared cache's
// implementation belongs to the cache work (issue #15); until it lands, no purger is set and
// the admin API answers 501 with PC_ERR_PURGE_UNAVAILABLE.

export interface PurgeOptions {
  /** Every stored URL starting with the given one, not just that URL. */
  readonly prefix: boolean;
  /** Mark stale (revalidate before reuse) instead of removing. */
  readonly soft: boolean;
}

export interface PurgeResult {
  /** Entries removed (or marked stale). */
  readonly purged: number;
}

export interface CachePurger {
  /** `urlOrPrefix`: an absolute URL, `scheme://host/path` (query included when it matters). */
  purge(urlOrPrefix: string, opts: PurgeOptions): Promise<PurgeResult>;
}

/** The purger the admin API uses; null until the cache provides one. */
let current: CachePurger | null = null;

export function setCachePurger(p: CachePurger | null): void { current = p; }
export function cachePurger(): CachePurger | null { return current; }
