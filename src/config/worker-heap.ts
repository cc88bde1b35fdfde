// PORTCULLIS_WORKER_YOUNG_MB, read in two places: the config loader (so `check` and start-up
// report a bad value with the other PORTCULLIS_* overrides) and the primary's supervisor
// (which applies it to each worker). Dependency-free, because the primary must not load
// the config libraries.

export const YOUNG_MB_VAR = 'PORTCULLIS_WORKER_YOUNG_MB';

/**
 * The proxy's garbage is short-lived, so a small nursery costs little CPU and keeps RSS
 * per worker low (V8's own default grows it to ~48 MiB under load).
 */
export const DEFAULT_YOUNG_MB = 16;

/** MiB of young generation per worker (0 = V8's default), or why the value is refused. Empty = unset. */
export function parseYoungMb(raw: string | undefined): { readonly mb: number } | { readonly error: string } {
  const text = raw?.trim() ?? '';
  if (text === '') return { mb: DEFAULT_YOUNG_MB };
  if (!/^\d+$/.test(text) || !Number.isSafeInteger(Number(text))) {
    return { error: `expected a whole number of MiB (0 = V8's default), got "${raw}"` };
  }
  return { mb: Number(text) };
}
