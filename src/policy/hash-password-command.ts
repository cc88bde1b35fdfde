// `portcullis hash-password`: reads one password on stdin (a terminal, a pipe or a file; the
// line end is not part of it), prints its scrypt hash for auth.basic.users. Never echoes it.
import type { Readable, Writable } from 'node:stream';
import { hashPassword } from './password-hash.js';

export async function runHashPassword(stdin: Readable & { isTTY?: boolean }, stdout: Writable, stderr: Writable): Promise<number> {
  if (stdin.isTTY) stderr.write('password (then Enter, then Ctrl-D): ');
  const chunks: Buffer[] = [];
  for await (const chunk of stdin) chunks.push(Buffer.from(chunk as Buffer));
  let text = Buffer.concat(chunks).toString('utf8');
  // One trailing line end belongs to the terminal or to `echo`, not to the password.
  text = text.replace(/\r?\n$/, '');
  if (text === '') {
    stderr.write('portcullis hash-password: no password on stdin (try: printf %s "secret" | portcullis hash-password)\n');
    return 1;
  }
  if (/[\r\n]/.test(text)) {
    stderr.write('portcullis hash-password: more than one line on stdin; give one password\n');
    return 1;
  }
  stdout.write(`${await hashPassword(text)}\n`);
  return 0;
}
