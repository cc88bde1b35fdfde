// Redirect and rewrite templates: "https://example.com/{path}" split once into literal text
// and named placeholders, filled per request by concatenation (no regular expressions on the
// request path). Also the parser of a redirect's `from` pattern.

const PLACEHOLDER = /\{([A-Za-z_][A-Za-z0-9_]*)\}/g;

/** Checks a template's shape; the config keeps the text (compiled per Runtime). */
export function parseTemplate(text: string, kind: 'redirect' | 'rewrite'): string | { error: string } {
  if (/[\x00-\x20\x7f]/.test(text)) return { error: 'must not contain spaces or control characters' };
  const stripped = text.replace(PLACEHOLDER, '');
  if (/[{}]/.test(stripped)) return { error: `unbalanced "{" or "}" in "${text}" (placeholders look like {path})` };
  if (kind === 'rewrite') {
    if (!text.startsWith('/')) return { error: `a rewrite is a path starting with "/" (got "${text}")` };
    if (text.includes('?') || text.includes('#')) return { error: 'a rewrite sets the path only; the query is kept as it is' };
  } else if (!text.startsWith('/') && !/^https?:\/\/[^/?#]+/i.test(text)) {
    return { error: `a redirect target is "http(s)://host/…" or a path starting with "/" (got "${text}")` };
  }
  return text;
}

/** A compiled template: literal[0] value[0] literal[1] … literal[n]. */
export interface Template {
  readonly literals: readonly string[];
  readonly names: readonly string[];
}

export function compileTemplate(text: string): Template {
  const literals: string[] = [];
  const names: string[] = [];
  let last = 0;
  for (const m of text.matchAll(PLACEHOLDER)) {
    literals.push(text.slice(last, m.index));
    names.push(m[1]!);
    last = m.index + m[0].length;
  }
  literals.push(text.slice(last));
  return { literals, names };
}

/** Fills a template; `value(name)` returns the text for one placeholder. Hot path. */
export function fillTemplate(t: Template, value: (name: string) => string): string {
  let out = t.literals[0]!;
  for (let i = 0; i < t.names.length; i++) out += value(t.names[i]!) + t.literals[i + 1]!;
  return out;
}

export interface RedirectFrom {
  /** 'http' | 'https', or null for either. */
  readonly scheme: 'http' | 'https' | null;
  /** Lowercase host without port, or null for any host. */
  readonly host: string | null;
  /** Exact path, or the prefix before a trailing "*" (ends in "/" or is ""). */
  readonly path: string;
  /** The pattern ended in "*": `path` is a prefix and the rest is {path}. */
  readonly wildcard: boolean;
}

export function parseRedirectFrom(text: string): RedirectFrom | { error: string } {
  let rest = text.trim();
  let scheme: 'http' | 'https' | null = null;
  let host: string | null = null;
  const m = /^(https?):\/\/([^/]+)(\/.*)?$/i.exec(rest);
  if (m !== null) {
    scheme = m[1]!.toLowerCase() as 'http' | 'https';
    host = m[2]!.toLowerCase();
    rest = m[3] ?? '/';
  } else if (!rest.startsWith('/')) {
    const h = /^([^/]+)(\/.*)?$/.exec(rest);
    if (h === null) return { error: `expected "scheme://host/path", "host/path" or "/path" (got "${text}")` };
    host = h[1]!.toLowerCase();
    rest = h[2] ?? '/';
  }
  if (host !== null && !/^[a-z0-9]([a-z0-9.-]*[a-z0-9])?$/.test(host)) return { error: `invalid host "${host}" in "${text}" (no port, no wildcard)` };
  if (/[\s?#{}]/.test(rest)) return { error: `the path must not contain spaces, "?", "#" or braces (got "${rest}")` };
  const star = rest.indexOf('*');
  if (star >= 0 && star !== rest.length - 1) return { error: `"*" is only allowed at the end of the path (got "${rest}")` };
  const wildcard = star >= 0;
  return { scheme, host, path: wildcard ? rest.slice(0, -1) : rest, wildcard };
}
