// Edits to the request head sent upstream, made by policies (header set/remove, forward auth's
// copied headers). The client's head is never changed: the edited list goes to
// ex.upstreamHeaders, which pipeline.upstreamHead sends instead.
import type { Exchange } from '../exchange.js';

/** Removes every header named in `remove`, then appends `add` ([name, value, …], lowercase names). */
export function editUpstreamHeaders(ex: Exchange, remove: ReadonlySet<string>, add: readonly string[]): void {
  const from = ex.upstreamHeaders ?? ex.head.headers;
  const out: string[] = [];
  for (let i = 0; i < from.length; i += 2) {
    if (!remove.has(from[i]!)) out.push(from[i]!, from[i + 1]!);
  }
  for (let i = 0; i < add.length; i++) out.push(add[i]!);
  ex.upstreamHeaders = out;
}
