// The config file as a YAML document that remembers positions: parses the text (syntax
// errors with their line), interpolates ${ENV} in string values, and maps a field path back
// to the line and column it was written on.

import { randomBytes } from 'node:crypto';
import { isAlias, isMap, isScalar, isSeq, LineCounter, parseDocument, type Document, type Node, type Pair, type Scalar, type YAMLMap } from 'yaml';
import { interpolate } from './env.js';

export type FieldPath = readonly (string | number)[];

export interface Position {
  readonly line: number;
  readonly column: number;
}

export interface DocumentProblem {
  readonly position: Position;
  readonly path: FieldPath;
  readonly message: string;
}

// After substitution an unquoted value is re-read as YAML would read it, so
// `workers: ${WORKERS:-4}` is a number; quoting the value keeps it a string.
const INT = /^[-+]?\d+$/;
const FLOAT = /^[-+]?(\d+\.\d*|\.\d+|\d+)([eE][-+]?\d+)?$/;
const BOOL: Readonly<Record<string, boolean>> = { true: true, True: true, TRUE: true, false: false, False: false, FALSE: false };

function retype(value: string): string | number | boolean {
  if (INT.test(value) || FLOAT.test(value)) return Number(value);
  return BOOL[value] ?? value;
}

/** A value read (wholly or partly) from the environment: where it landed in the data, what was written. */
export interface EnvValue {
  /** Path in the plain data (toData): aliases and merge keys followed, so one scalar may land at several. */
  readonly path: FieldPath;
  /** The scalar as written in the file, `${NAME}` and all. */
  readonly written: string;
  /** The scalar after substitution, before it is re-typed. */
  readonly expanded: string;
}

interface Substituted {
  readonly node: Scalar;
  readonly written: string;
  readonly expanded: string;
}

export class ConfigDocument {
  readonly #doc: Document.Parsed;
  readonly #lines: LineCounter;
  /** Scalars that took a value from the environment (interpolate). */
  readonly #substituted: Substituted[] = [];
  /** Variables whose value was substituted, with that value. */
  readonly envValues = new Map<string, string>();
  /** YAML syntax errors; when there are any, the rest of the document is not trusted. */
  readonly syntaxErrors: readonly DocumentProblem[];

  constructor(text: string) {
    this.#lines = new LineCounter();
    // merge: `<<: *defaults` merge keys (YAML 1.1, widely used in 1.2 files: docker-compose).
    this.#doc = parseDocument(text, { lineCounter: this.#lines, prettyErrors: false, uniqueKeys: true, version: '1.2', merge: true });
    const lines = text.split('\n');
    const hinted = new Set<number>();
    this.syntaxErrors = this.#doc.errors.map((e) => {
      const position = this.#at(e.pos[0]);
      let message = e.message.replace(/\s+/g, ' ').trim();
      // Unquoted `${X}` inside [...] or {...} reads as a nested flow map: say so once per line.
      if (lines[position.line - 1]?.includes('${') && !hinted.has(position.line)) {
        hinted.add(position.line);
        message += ' (quote values that contain ${...}, e.g. "${PORT:-8080}")';
      }
      return { position, path: [], message };
    });
  }

  #at(offset: number): Position {
    const { line, col } = this.#lines.linePos(offset);
    return { line, column: col };
  }

  /** Replaces ${VAR} references in every string value in place; returns the unset/invalid ones. */
  interpolate(env: NodeJS.ProcessEnv): DocumentProblem[] {
    const problems: DocumentProblem[] = [];
    const walk = (node: unknown, path: FieldPath): void => {
      if (isMap(node)) {
        // A merge key's inline map lends its fields to this map: they share its path.
        for (const pair of node.items) walk(pair.value, isMergeKey(pair.key) ? path : [...path, keyName(pair.key)]);
      } else if (isSeq(node)) {
        node.items.forEach((item, i) => walk(item, [...path, i]));
      } else if (isScalar(node) && typeof node.value === 'string' && node.value.includes('$')) {
        const used = new Map<string, string>();
        const written = node.value;
        const r = interpolate(written, env, used);
        if ('error' in r) {
          problems.push({ position: this.#at(node.range?.[0] ?? 0), path, message: r.error });
          node.value = '';
        } else if (r.value !== written) {
          node.value = node.type === 'PLAIN' ? retype(r.value) : r.value;
        }
        if (used.size > 0) {
          for (const [name, value] of used) this.envValues.set(name, value);
          if (!('error' in r)) this.#substituted.push({ node, written, expanded: r.value });
        }
      }
      // Aliases point at nodes already visited through their anchor.
    };
    walk(this.#doc.contents, []);
    return problems;
  }

  /** Every scalar that took a value from the environment: as written, and after substitution. */
  get substitutions(): readonly { readonly written: string; readonly expanded: string }[] {
    return this.#substituted;
  }

  /** The document as plain data (maps → objects). */
  toJS(): unknown {
    return this.#doc.toJS({ maxAliasCount: 100 });
  }

  /**
   * The plain data, and every path in it that holds a value from the environment. Each such
   * scalar is turned into a unique marker for the conversion and back after it, so a value
   * that reaches other fields through an alias or a merge key is found there too.
   */
  toData(): { data: unknown; fromEnv: EnvValue[] } {
    if (this.#substituted.length === 0) return { data: this.toJS(), fromEnv: [] };
    const nonce = randomBytes(8).toString('hex');
    const marker = (i: number): string => `\u0000${nonce}:${i}\u0000`;
    const finals = this.#substituted.map((s) => s.node.value);
    this.#substituted.forEach((s, i) => { s.node.value = marker(i); });
    let data: unknown;
    try {
      data = this.toJS();
    } finally {
      this.#substituted.forEach((s, i) => { s.node.value = finals[i]; });
    }
    const index = new Map(this.#substituted.map((_, i) => [marker(i), i]));
    const fromEnv: EnvValue[] = [];
    const walk = (v: unknown, path: FieldPath): unknown => {
      if (typeof v === 'string') {
        const i = index.get(v);
        if (i === undefined) return v;
        const s = this.#substituted[i]!;
        fromEnv.push({ path, written: s.written, expanded: s.expanded });
        return finals[i];
      }
      if (Array.isArray(v)) return v.map((item, i) => walk(item, [...path, i]));
      if (typeof v === 'object' && v !== null) {
        const out: Record<string, unknown> = {};
        // A marker can only be a key through an alias used as a key: put the value back.
        for (const [k, item] of Object.entries(v)) {
          const i = index.get(k);
          const key = i === undefined ? k : String(finals[i]);
          Object.defineProperty(out, key, { value: walk(item, [...path, key]), enumerable: true, writable: true, configurable: true });
        }
        return out;
      }
      return v;
    };
    return { data: walk(data, []), fromEnv };
  }

  /**
   * Where a field was written: its value, or with at='key' its key (unknown keys). A path
   * that does not exist (a missing field) resolves to the closest enclosing node.
   */
  positionOf(path: FieldPath, at: 'key' | 'value' = 'value'): Position {
    let node: unknown = this.#doc.contents;
    let offset = rangeStart(node) ?? 0;
    for (const [i, seg] of path.entries()) {
      const last = i === path.length - 1;
      if (isMap(node)) {
        const pair = this.#findPair(node, String(seg), 0);
        if (!pair) break;
        const keyStart = rangeStart(pair.key);
        if ((last && at === 'key') || isEmpty(pair.value)) {
          offset = keyStart ?? offset;
          break;
        }
        node = pair.value;
      } else if (isSeq(node) && typeof seg === 'number' && seg < node.items.length) {
        node = node.items[seg];
      } else {
        break;
      }
      offset = rangeStart(node) ?? offset;
      // Further in, follow an alias to its anchor: the field was written there.
      if (isAlias(node) && !last) node = this.#resolve(node);
    }
    return this.#at(offset);
  }

  /** The pair for `key` in `map`, or in what its `<<` merge keys bring in (own keys win, then sources in order). */
  #findPair(map: YAMLMap, key: string, depth: number): Pair | undefined {
    const own = map.items.find((p) => !isMergeKey(p.key) && keyName(p.key) === key);
    if (own || depth > 20) return own;
    for (const pair of map.items) {
      if (!isMergeKey(pair.key)) continue;
      const source = this.#resolve(pair.value);
      const sources = isSeq(source) ? source.items.map((s) => this.#resolve(s)) : [source];
      for (const s of sources) {
        const found = isMap(s) ? this.#findPair(s, key, depth + 1) : undefined;
        if (found) return found;
      }
    }
    return undefined;
  }

  #resolve(node: unknown): unknown {
    return isAlias(node) ? node.resolve(this.#doc) : node;
  }
}

// With merge enabled, a plain `<<` key is parsed as a Scalar holding Symbol('<<').
function isMergeKey(key: unknown): boolean {
  return isScalar(key) && typeof key.value === 'symbol' && key.value.description === '<<';
}

function keyName(key: unknown): string {
  return isScalar(key) ? String(key.value) : String(key);
}

// `key:` with nothing after it: the value has no text of its own, so point at the key.
function isEmpty(value: unknown): boolean {
  if (value === null || value === undefined) return true;
  return isScalar(value) && value.value === null && value.range != null && value.range[0] === value.range[1];
}

function rangeStart(node: unknown): number | undefined {
  return (node as Node | null | undefined)?.range?.[0];
}
