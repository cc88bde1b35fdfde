// Command-line options for the `portcullis` subcommands, parsed strictly: a mistyped flag
// must never fall through to a default (`run --conf x.yaml` once served the demo config).
// Pure and dependency-free, so the primary can use it without loading the config libraries.

export interface OptionSpec {
  /** Spellings, e.g. ['-c', '--config']; a long name also accepts `--name=value`. */
  readonly names: readonly string[];
  /** Key in the result. */
  readonly key: string;
  /** What the value is called in messages ("a file", "an address"); absent for a flag without value. */
  readonly value?: string;
  /** May be given more than once (e.g. `--to`); single-value options given twice are an error. */
  readonly repeat?: boolean;
}

export interface ParsedArgs {
  /** Values per key, in command-line order; a flag without value maps to ['']. */
  readonly options: Readonly<Record<string, readonly string[]>>;
  readonly positionals: readonly string[];
}

/** Why a command line was refused, as one short line (the caller adds the usage text). */
export type ArgsResult = ParsedArgs | { readonly usage: string };

/**
 * Parses `argv` against `specs`; `-h`/`--help` is returned as the key 'help' when no spec
 * claims it. Bare arguments are collected for the caller, who knows how many it takes
 * (see `extraPositional`).
 */
export function parseArgs(argv: readonly string[], specs: readonly OptionSpec[]): ArgsResult {
  const options: Record<string, string[]> = {};
  const positionals: string[] = [];
  const seenAs: Record<string, string> = {};
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--') {
      positionals.push(...argv.slice(i + 1));
      break;
    }
    if (!arg.startsWith('-') || arg === '-') {
      positionals.push(arg);
      continue;
    }
    const eq = arg.startsWith('--') ? arg.indexOf('=') : -1;
    const name = eq < 0 ? arg : arg.slice(0, eq);
    const spec = specs.find((s) => s.names.includes(name)) ?? (name === '-h' || name === '--help' ? HELP : undefined);
    if (spec === undefined) return { usage: `unknown option ${name}` };
    let value = '';
    if (spec.value === undefined) {
      if (eq >= 0) return { usage: `${name} takes no value` };
    } else if (eq >= 0) {
      value = arg.slice(eq + 1);
      if (value === '') return { usage: `${name} needs ${spec.value}` };
    } else {
      const next = argv[i + 1];
      // `-c --quiet` is a forgotten value, not a file named "--quiet".
      if (next === undefined || (next.startsWith('-') && next !== '-')) return { usage: `${name} needs ${spec.value}` };
      value = next;
      i++;
    }
    const previous = seenAs[spec.key];
    if (previous !== undefined && !spec.repeat) {
      return { usage: previous === name ? `${name} given more than once` : `${previous} and ${name} are the same option, given twice` };
    }
    seenAs[spec.key] = name;
    (options[spec.key] ??= []).push(value);
  }
  return { options, positionals };
}

const HELP: OptionSpec = { names: ['-h', '--help'], key: 'help' };

/** The usage error for bare arguments beyond the first `max`, or undefined when there are none. */
export function extraPositional(args: ParsedArgs, max: number, hint = ''): string | undefined {
  const stray = args.positionals[max];
  return stray === undefined ? undefined : `unexpected argument "${stray}"${hint}`;
}

/** The single value of a non-repeating option, if given. */
export function single(args: ParsedArgs, key: string): string | undefined {
  return args.options[key]?.[0];
}
