// Reading one cookie from a request's Cookie header lines (RFC 6265 §5.4: "name=value" pairs
// separated by "; "; HTTP/2 may split them over several lines).

/** The value of cookie `name` in a flat [name, value, …] header list, or undefined. */
export function cookieValue(headers: readonly string[], name: string): string | undefined {
  for (let i = 0; i < headers.length; i += 2) {
    if (headers[i] !== 'cookie') continue;
    const line = headers[i + 1]!;
    let at = 0;
    while (at < line.length) {
      while (line.charCodeAt(at) === 32 || line.charCodeAt(at) === 59) at++; // ' ' ';'
      let end = line.indexOf(';', at);
      if (end < 0) end = line.length;
      const eq = line.indexOf('=', at);
      if (eq > at && eq < end && line.slice(at, eq).trim() === name) {
        let value = line.slice(eq + 1, end).trim();
        if (value.length >= 2 && value.charCodeAt(0) === 34 && value.charCodeAt(value.length - 1) === 34) value = value.slice(1, -1);
        return value;
      }
      at = end + 1;
    }
  }
  return undefined;
}
