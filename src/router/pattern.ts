// Route path patterns: the syntax ('/exact', '/prefix/', '/files/*', '/users/:id') parsed
// into the static strings and parameter slots the trie is built from.

import { normalizePath } from './normalize.js';

/** How a pattern's end matches: the whole path, or everything below a trailing '/'. */
export const EXACT = 0;
/** '/a/': matches '/a/' and below, not '/a'. */
export const PREFIX = 1;
/** '/a/*': like PREFIX, and the rest of the path is captured as param '*'. */
export const WILDCARD = 2;
export type PatternKind = typeof EXACT | typeof PREFIX | typeof WILDCARD;

/** Marks a parameter slot in `parts`. */
export const PARAM = null;

export interface ParsedPattern {
  /**
   * Static strings and PARAM slots in order. A PARAM always follows a string ending
   * in '/', and is followed by nothing or a string starting with '/'. For PREFIX and
   * WILDCARD the last part is a string ending in '/'.
   */
  readonly parts: readonly (string | typeof PARAM)[];
  /** Parameter names in path order. */
  readonly names: readonly string[];
  readonly kind: PatternKind;
}

const PARAM_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** Parses a pattern, or returns the reason it is invalid (a string). */
export function parsePattern(pattern: string): ParsedPattern | string {
  // Paths are matched after normalisation, so a pattern that is not itself normalised
  // ('/a//b', '/a/./b', '/%7euser') could never match: refuse it instead of ignoring it.
  const norm = normalizePath(pattern);
  if (norm === null) return 'not a valid path (must start with "/", RFC 3986 characters only)';
  if (norm !== pattern) return `not a normalised path (write it as ${norm})`;

  const segments = pattern.slice(1).split('/');
  const parts: (string | typeof PARAM)[] = [];
  const names: string[] = [];
  let kind: PatternKind = EXACT;
  let text = '/';
  for (let i = 0; i < segments.length; i++) {
    const seg = segments[i]!;
    const last = i === segments.length - 1;
    if (last && seg === '') {
      kind = PREFIX;
      break;
    }
    if (last && seg === '*') {
      kind = WILDCARD;
      break;
    }
    if (seg.includes('*')) return `'*' is only allowed as the whole last segment`;
    if (seg.startsWith(':')) {
      const name = seg.slice(1);
      if (!PARAM_NAME.test(name)) return `parameter name '${name}' must match ${PARAM_NAME.source}`;
      if (names.includes(name)) return `parameter ':${name}' appears twice`;
      names.push(name);
      parts.push(text, PARAM);
      text = last ? '' : '/';
    } else {
      text += last ? seg : seg + '/';
    }
  }
  if (text !== '') parts.push(text);
  return { parts, names, kind };
}
