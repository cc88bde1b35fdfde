// ConfigError / ConfigErrors: a config problem as data (file, line, column, dotted field),
// and the batch of all of them that loading throws, so one run shows every mistake.

/** Where a problem sits: line/column are 1-based; 0 means "no line" (env vars, CLI flags). */
export interface ConfigErrorInit {
  readonly file: string;
  readonly line: number;
  readonly column: number;
  /** Dotted path like `routes[1].upstream`, a flag like `--to`, or an env var name. */
  readonly field: string;
  readonly message: string;
}

export class ConfigError extends Error {
  readonly file: string;
  readonly line: number;
  readonly column: number;
  readonly field: string;

  constructor(init: ConfigErrorInit) {
    super(init.message);
    this.name = 'ConfigError';
    this.file = init.file;
    this.line = init.line;
    this.column = init.column;
    this.field = init.field;
  }

  /** `file:line:col: field: message` (the `:line:col` part is left out when there is no line). */
  format(): string {
    const where = this.line > 0 ? `${this.file}:${this.line}:${this.column}` : this.file;
    return `${where}: ${this.field}: ${this.message}`;
  }

  override toString(): string {
    return this.format();
  }
}

export class ConfigErrors extends Error {
  readonly errors: readonly ConfigError[];
  /**
   * The same errors as they may leave the process (admin API replies): messages without the
   * values read from the environment (config/shown.ts scrubber). `errors` keeps them for the log.
   */
  readonly shown: readonly ConfigError[];

  /** Sorted to read top to bottom like the file; errors without a line (env, flags) come last. */
  constructor(errors: readonly ConfigError[], scrub?: (message: string) => string) {
    const fileRank = new Map<string, number>();
    for (const e of errors) if (!fileRank.has(e.file)) fileRank.set(e.file, fileRank.size);
    const sorted = [...errors].sort(
      (a, b) => Number(a.line === 0) - Number(b.line === 0) || fileRank.get(a.file)! - fileRank.get(b.file)! || a.line - b.line || a.column - b.column,
    );
    super(sorted.map((e) => e.format()).join('\n'));
    this.name = 'ConfigErrors';
    this.errors = sorted;
    this.shown = scrub === undefined ? sorted : sorted.map((e) => new ConfigError({ file: e.file, line: e.line, column: e.column, field: e.field, message: scrub(e.message) }));
  }
}
