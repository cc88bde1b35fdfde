// `portcullis check [-c FILE]`, like `nginx -t`: loads and validates a config, prints the
// effective config (what the proxy would run) or every error, and sets the exit code.

import { stringify } from 'yaml';
import { extraPositional, parseArgs, single, type OptionSpec } from '../cli-args.js';
import { ConfigErrors } from './error.js';
import { loadConfigFile } from './load.js';
import { defaultConfigPath } from '../package-root.js';

const USAGE = `usage: portcullis check [-c FILE] [-q]
  -c, --config FILE  config to check (default: the built-in config/default.yaml)
  -q, --quiet        print only "config OK: FILE", not the effective config
`;

interface CheckArgs {
  readonly file: string;
  readonly quiet: boolean;
}

const OPTIONS: readonly OptionSpec[] = [
  { names: ['-c', '--config'], key: 'config', value: 'a file' },
  { names: ['-q', '--quiet'], key: 'quiet' },
];

function parseCheckArgs(argv: readonly string[]): CheckArgs | { help: true } | { usage: string } {
  const parsed = parseArgs(argv[0] === 'check' ? argv.slice(1) : argv, OPTIONS);
  if ('usage' in parsed) return parsed;
  if (parsed.options['help']) return { help: true };
  // The file may also be given bare (`check FILE`), but only once.
  const withFlag = single(parsed, 'config') !== undefined;
  const stray = extraPositional(parsed, withFlag ? 0 : 1, withFlag ? ' (the file is already given with -c)' : '');
  if (stray !== undefined) return { usage: stray };
  return { file: single(parsed, 'config') ?? parsed.positionals[0] ?? defaultConfigPath(), quiet: parsed.options['quiet'] !== undefined };
}

/** Exit codes: 0 valid, 1 invalid config, 2 bad command line. */
export async function runCheck(
  argv: string[],
  out: NodeJS.WritableStream,
  err: NodeJS.WritableStream,
  env: NodeJS.ProcessEnv = process.env,
): Promise<number> {
  const args = parseCheckArgs(argv);
  if ('help' in args) {
    out.write(USAGE);
    return 0;
  }
  if ('usage' in args) {
    err.write(`portcullis check: ${args.usage}\n${USAGE}`);
    return 2;
  }
  try {
    const config = loadConfigFile(args.file, env);
    out.write(`config OK: ${args.file}\n`);
    if (!args.quiet) {
      out.write('# effective config: durations in milliseconds, sizes in bytes\n');
      // The effective config as it runs (check is the operator's own tool, like nginx -T);
      // where values came from the environment is bookkeeping, not a setting.
      const { from_env: _trace, ...effective } = config;
      out.write(stringify(effective));
    }
    return 0;
  } catch (e) {
    if (!(e instanceof ConfigErrors)) {
      err.write(`portcullis check: ${e instanceof Error ? e.message : String(e)}\n`);
      return 1;
    }
    for (const error of e.errors) err.write(`${error.format()}\n`);
    const n = e.errors.length;
    err.write(`config check failed: ${n} error${n === 1 ? '' : 's'} in ${args.file}\n`);
    return 1;
  }
}
