import { describe, expect, test } from 'vitest';
import { extraPositional, parseArgs, type OptionSpec } from '../src/cli-args.js';

const RUN: OptionSpec[] = [{ names: ['-c', '--config'], key: 'config', value: 'a file' }];
const PROXY: OptionSpec[] = [
  { names: ['--from'], key: 'from', value: 'an address' },
  { names: ['--to'], key: 'to', value: 'a URL', repeat: true },
];

describe('parseArgs', () => {
  test.each<[string[], OptionSpec[], Record<string, string[]>, string[]]>([
    [[], RUN, {}, []],
    [['-c', 'a.yaml'], RUN, { config: ['a.yaml'] }, []],
    [['--config', 'a.yaml'], RUN, { config: ['a.yaml'] }, []],
    [['--config=a.yaml'], RUN, { config: ['a.yaml'] }, []],
    [['a.yaml'], RUN, {}, ['a.yaml']],
    [['--', '-c'], RUN, {}, ['-c']],
    [['--help'], RUN, { help: [''] }, []],
    [['--from', ':8080', '--to', '3000', '--to=3001'], PROXY, { from: [':8080'], to: ['3000', '3001'] }, []],
  ])('%j → options and positionals', (argv, specs, options, positionals) => {
    expect(parseArgs(argv, specs)).toEqual({ options, positionals });
  });

  test.each<[string[], OptionSpec[], string]>([
    [['--conf', 'a.yaml'], RUN, 'unknown option --conf'],
    [['-C', 'a.yaml'], RUN, 'unknown option -C'],
    [['-c'], RUN, '-c needs a file'],
    [['-c', '--help'], RUN, '-c needs a file'],
    [['--config='], RUN, '--config needs a file'],
    [['-c', 'a', '-c', 'b'], RUN, '-c given more than once'],
    [['-c', 'a', '--config=b'], RUN, '-c and --config are the same option, given twice'],
    [['--help=yes'], RUN, '--help takes no value'],
    [['--from', ':1', '--to', '3000', '--bogus'], PROXY, 'unknown option --bogus'],
    [['--from', ':1', '--to', '3000', '--from', ':2'], PROXY, '--from given more than once'],
    [['--to'], PROXY, '--to needs a URL'],
  ])('%j is refused: %s', (argv, specs, usage) => {
    expect(parseArgs(argv, specs)).toEqual({ usage });
  });

  test('extraPositional names the first argument beyond those a command takes', () => {
    const args = parseArgs(['a', 'b'], RUN);
    if ('usage' in args) throw new Error(args.usage);
    expect(extraPositional(args, 2)).toBeUndefined();
    expect(extraPositional(args, 1)).toBe('unexpected argument "b"');
    expect(extraPositional(args, 0, ' (use -c FILE)')).toBe('unexpected argument "a" (use -c FILE)');
  });
});
