// Certificates from an ACME CA (RFC 8555) for listeners with tls.acme, obtained once by the
// primary process, never by a worker: one account and one certificate per name in the state
// directory (tls/acme-store.ts), HTTP-01 challenges answered by every worker's plain
// listeners (tls/challenges.ts), each new certificate handed to the workers through the
// certificate manager. acme-client speaks the protocol (account, order, authorizations,
// finalize, download; nonces and retries of badNonce).
//
//   start ─▶ stored and valid? ─yes─▶ serve it, renew at 2/3 of its lifetime
//                 └─no─▶ queue ─▶ order ─▶ challenge to every worker (acked) ─▶ CA validates
//                                  ─▶ finalize ─▶ store (0600) ─▶ serve ─▶ renew at 2/3
//   failure ─▶ keep serving what we have; retry after 1 min, 2, 4 … 6 h
//   unknown SNI name (on_demand) ─▶ policy (allow / ask, 10 a minute) ─▶ queue
import https from 'node:https';
import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import acme from 'acme-client';
import type { Config } from '../config/types.js';
import { isPairError, parsePair, type CertificatePair } from './certificate.js';
import { AcmeStore } from './acme-store.js';
import type { CertificateManager, Log } from './manager.js';
import { OnDemandPolicy } from './on-demand.js';
import type { TlsCount } from './manager.js';

/** A timer delay Node accepts (longer ones fire at once). */
const MAX_TIMER_MS = 2 ** 31 - 1;
const FIRST_RETRY_MS = 60_000;
const MAX_RETRY_MS = 6 * 3_600_000;

/** The wait before attempt `failures + 1`: 1 min, doubling, at most 6 h. */
export function retryDelay(failures: number, first = FIRST_RETRY_MS): number {
  return Math.min(MAX_RETRY_MS, first * 2 ** Math.max(0, failures - 1));
}

/** When a certificate valid from notBefore to notAfter is renewed: two thirds into its life. */
export function renewalTime(pair: { notBefore: number; notAfter: number }): number {
  return pair.notBefore + ((pair.notAfter - pair.notBefore) * 2) / 3;
}

function duration(ms: number): string {
  if (ms >= 3_600_000) return `${Math.round(ms / 3_600_000)}h`;
  if (ms >= 60_000) return `${Math.round(ms / 60_000)}m`;
  return `${Math.round(ms / 1000)}s`;
}

/**
 * The names ACME listeners get certificates for: every exact route host and acme.names (no
 * wildcards: HTTP-01 cannot prove them; no IP addresses).
 */
export function acmeNames(config: Config): string[] {
  const names = new Set<string>(config.acme.names);
  for (const r of config.routes) if (r.host !== undefined && !r.host.startsWith('*.') && isIP(r.host) === 0) names.add(r.host);
  return [...names].sort();
}

/** How the issuer reaches the workers' HTTP-01 responders. */
export interface ChallengeBroadcast {
  /** Resolves when every worker answers `token` (or null: stops answering it). */
  set(token: string, keyAuthorization: string | null): Promise<void>;
}

interface NameState {
  readonly name: string;
  pair: CertificatePair | null;
  timer: NodeJS.Timeout | null;
  failures: number;
  queued: boolean;
}

export class AcmeIssuer {
  readonly #config: Config;
  readonly #certs: CertificateManager;
  readonly #challenges: ChallengeBroadcast;
  readonly #log: Log;
  readonly #store: AcmeStore;
  readonly #listeners: string[];
  readonly #names = new Map<string, NameState>();
  readonly #queue: NameState[] = [];
  readonly #policy: OnDemandPolicy | null;
  /** On-demand names being judged or refused recently (a client repeats its handshakes). */
  readonly #judged = new Map<string, number>();
  readonly #firstRetryMs: number;
  #client: acme.Client | null = null;
  #busy = false;
  #stopped = false;

  readonly #count: TlsCount;

  constructor(config: Config, certs: CertificateManager, challenges: ChallengeBroadcast, log: Log, count: TlsCount = () => {}, firstRetryMs = FIRST_RETRY_MS) {
    this.#config = config;
    this.#count = count;
    this.#certs = certs;
    this.#challenges = challenges;
    this.#log = log;
    this.#firstRetryMs = firstRetryMs;
    this.#listeners = config.listen.filter((l) => l.tls?.acme === true).map((l) => certs.keyOf(l));
    this.#store = new AcmeStore(config.state_dir, config.acme.directory);
    this.#policy = config.acme.on_demand === undefined ? null : new OnDemandPolicy(config.acme.on_demand);
    if (config.acme.directory_ca !== undefined) {
      // The primary's only HTTPS client is this one: the agent trusts the private directory's CA.
      acme.axios.defaults.httpsAgent = new https.Agent({ ca: readFileSync(config.acme.directory_ca), keepAlive: true });
    }
  }

  /** Whether any listener uses ACME. */
  get active(): boolean { return this.#listeners.length > 0; }

  /** Serves what the state directory holds and queues what is missing or due. */
  start(): void {
    if (!this.active) return;
    for (const name of acmeNames(this.#config)) {
      if (this.#certs.coveredByFiles(this.#listeners, name)) continue;
      this.#track(name, this.#store.certificate(name));
    }
  }

  #track(name: string, stored: CertificatePair | null): NameState {
    const state: NameState = { name, pair: null, timer: null, failures: 0, queued: false };
    this.#names.set(name, state);
    if (stored !== null && stored.notAfter > Date.now()) {
      this.#serve(state, stored);
      this.#log('info', `ACME: ${name}: using the stored certificate (valid until ${new Date(stored.notAfter).toISOString()})`);
    } else {
      this.#enqueue(state);
    }
    return state;
  }

  #serve(state: NameState, pair: CertificatePair): void {
    state.pair = pair;
    this.#certs.provide(this.#listeners, pair, false);
    this.#schedule(state, renewalTime(pair));
  }

  #schedule(state: NameState, at: number): void {
    if (state.timer !== null) clearTimeout(state.timer);
    const delay = at - Date.now();
    if (delay <= 0) { state.timer = null; this.#enqueue(state); return; }
    // Long waits are chained: a timer cannot wait more than ~24.8 days.
    state.timer = setTimeout(() => this.#schedule(state, at), Math.min(delay, MAX_TIMER_MS));
    state.timer.unref();
  }

  #enqueue(state: NameState): void {
    if (state.queued || this.#stopped) return;
    state.queued = true;
    this.#queue.push(state);
    void this.#pump();
  }

  /** One order at a time: the CA sees a steady, small load. */
  async #pump(): Promise<void> {
    if (this.#busy) return;
    this.#busy = true;
    try {
      for (let state = this.#queue.shift(); state !== undefined && !this.#stopped; state = this.#queue.shift()) {
        state.queued = false;
        await this.#issue(state);
      }
    } finally {
      this.#busy = false;
    }
  }

  async #issue(state: NameState): Promise<void> {
    const { name } = state;
    const renewing = state.pair !== null;
    this.#log('info', `ACME: ${name}: ${renewing ? 'renewing' : 'requesting'} a certificate from ${this.#config.acme.directory}`);
    try {
      const client = await this.#account();
      const key = await acme.crypto.createPrivateEcdsaKey();
      const [, csr] = await acme.crypto.createCsr({ commonName: name, altNames: [name] }, key);
      const chain = await client.auto({
        csr,
        ...(this.#config.acme.email === undefined ? {} : { email: this.#config.acme.email }),
        termsOfServiceAgreed: true,
        challengePriority: ['http-01'],
        // The CA checks; a self-check from here would need the name to resolve to us.
        skipChallengeVerification: true,
        challengeCreateFn: (_authz, challenge, keyAuthorization) => this.#challenges.set(challenge.token, keyAuthorization),
        challengeRemoveFn: (_authz, challenge) => this.#challenges.set(challenge.token, null),
      });
      if (this.#stopped) return;
      const pair = parsePair(chain, key.toString(), `certificate for ${name}`, 'its key');
      if (isPairError(pair)) throw new Error(pair.error);
      this.#store.saveCertificate(name, chain, key.toString());
      state.failures = 0;
      this.#count('acme', renewing ? 'renewed' : 'issued');
      this.#serve(state, pair);
      this.#log('info', `ACME: ${name}: certificate ${renewing ? 'renewed' : 'issued'}, valid until ${new Date(pair.notAfter).toISOString()}; renewal at ${new Date(renewalTime(pair)).toISOString()}`);
    } catch (err) {
      if (this.#stopped) return;
      this.#count('acme', 'failed');
      state.failures++;
      const delay = retryDelay(state.failures, this.#firstRetryMs);
      const keeping = state.pair !== null && state.pair.notAfter > Date.now() ? ' (the current certificate is still served)' : '';
      this.#log('error', `ACME: ${name}: cannot get a certificate: ${reason(err)}; retrying in ${duration(delay)}${keeping}`);
      this.#schedule(state, Date.now() + delay);
    }
  }

  /** The ACME client with this directory's account (created on first use, kept in the state directory). */
  async #account(): Promise<acme.Client> {
    if (this.#client !== null) return this.#client;
    let key = this.#store.accountKey();
    if (key === null) {
      key = (await acme.crypto.createPrivateEcdsaKey()).toString();
      this.#store.saveAccountKey(key);
    }
    const url = this.#store.accountUrl();
    const client = new acme.Client({ directoryUrl: this.#config.acme.directory, accountKey: key, ...(url === null ? {} : { accountUrl: url }) });
    if (url === null) {
      await client.createAccount({ termsOfServiceAgreed: true, ...(this.#config.acme.email === undefined ? {} : { contact: [`mailto:${this.#config.acme.email}`] }) });
      this.#store.saveAccountUrl(client.getAccountUrl());
    }
    this.#client = client;
    return client;
  }

  /**
   * A worker saw a handshake for `name`, which no certificate covers. Issued only when the
   * on_demand policy approves it; every refusal is logged once per name and hour.
   */
  async onDemand(name: string): Promise<void> {
    name = name.toLowerCase();
    if (!this.active || this.#stopped || this.#names.has(name)) return;
    const now = Date.now();
    const last = this.#judged.get(name);
    if (last !== undefined && now - last < 3_600_000) return;
    if (this.#judged.size > 10_000) this.#judged.clear();
    this.#judged.set(name, now);
    if (this.#policy === null) {
      this.#count('on_demand', 'refused');
      this.#log('warn', `ACME: ${name}: a client asked for this name; no certificate is issued for names outside the config without acme.on_demand`);
      return;
    }
    const verdict = await this.#policy.check(name);
    if (!verdict.allowed) {
      this.#count('on_demand', 'refused');
      this.#log('warn', `ACME: ${name}: on-demand certificate refused: ${verdict.reason}`);
      return;
    }
    if (this.#names.has(name)) return;
    this.#judged.delete(name);
    this.#count('on_demand', 'approved');
    this.#log('info', `ACME: ${name}: on-demand certificate approved`);
    this.#track(name, this.#store.certificate(name));
  }

  stop(): void {
    this.#stopped = true;
    for (const s of this.#names.values()) if (s.timer !== null) clearTimeout(s.timer);
    this.#queue.length = 0;
  }
}

/** The CA's problem detail when there is one, else the error's message. */
function reason(err: unknown): string {
  if (err instanceof Error) return err.message;
  return String(err);
}
