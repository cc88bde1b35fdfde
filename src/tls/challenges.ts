// ACME HTTP-01 responses (RFC 8555 §8.3), per worker: the primary puts each challenge's token
// and key authorization here (a message every worker acknowledges before the CA is told to
// look), and every plain listener answers `GET /.well-known/acme-challenge/<token>` with it,
// before routing and before any redirect to https.
export const CHALLENGE_PATH = '/.well-known/acme-challenge/';

export class ChallengeStore {
  readonly #tokens = new Map<string, string>();

  constructor(initial: Readonly<Record<string, string>> = {}) {
    for (const [token, value] of Object.entries(initial)) this.#tokens.set(token, value);
  }

  set(token: string, keyAuthorization: string | null): void {
    if (keyAuthorization === null) this.#tokens.delete(token);
    else this.#tokens.set(token, keyAuthorization);
  }

  /** The body for a request path, or null when it is not a pending challenge. */
  answer(rawPath: string): string | null {
    if (this.#tokens.size === 0 || !rawPath.startsWith(CHALLENGE_PATH)) return null;
    return this.#tokens.get(rawPath.slice(CHALLENGE_PATH.length)) ?? null;
  }
}
