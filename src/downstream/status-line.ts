// Status lines for writeStatus, cached: the common case (standard reason phrase)
// allocates nothing per response.
import { STATUS_CODES } from 'node:http';

const cache = new Map<number, string>();

export function statusLine(status: number, reason: string): string {
  const standard = STATUS_CODES[status];
  if (reason === '' || reason === standard) {
    let line = cache.get(status);
    if (line === undefined) {
      line = `${status} ${standard ?? 'Unknown'}`;
      cache.set(status, line);
    }
    return line;
  }
  return `${status} ${reason}`;
}
