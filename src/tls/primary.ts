// Everything TLS the primary process does, behind one object main.ts drives: the certificate
// manager (configured files, watched), the local CA (tls: internal), ACME, and the pending
// HTTP-01 challenges, plus the state a worker is spawned with.
//
//   new TlsService(config)   reads and checks configured pairs (throws: start-up fails)
//   prepare()                local CA leaf, before any worker starts (they boot with it)
//   start(workers)           watch files; ACME issuance now that workers answer challenges
//   state()                  WorkerBoot's tls + challenges, for every (re)spawn
import type { Config } from '../config/types.js';
import type { FromWorker, ToWorker, WorkerTlsState } from '../messages.js';
import { AcmeIssuer } from './acme.js';
import { startInternalIssuer, type InternalIssuer } from './internal-issuer.js';
import { CertificateManager, type Log, type TlsCount } from './manager.js';
import client from 'prom-client';

/** What the service needs of the supervisor. */
export interface WorkerChannel {
  broadcast(msg: ToWorker): void;
  broadcastAndWait(make: (ack: number) => ToWorker): Promise<void>;
}

export class TlsService {
  readonly #config: Config;
  readonly #log: Log;
  readonly #certs: CertificateManager;
  readonly #challenges = new Map<string, string>();
  #workers: WorkerChannel | null = null;
  #internal: InternalIssuer | null = null;
  #acme: AcmeIssuer | null = null;
  /** Counters in the primary's metrics registry once registerMetrics() was called. */
  #counters: Record<Parameters<TlsCount>[0], client.Counter<string>> | null = null;
  readonly #count: TlsCount = (family, label) => { this.#counters?.[family].inc({ [family === 'on_demand' ? 'verdict' : 'outcome']: label }); };

  constructor(config: Config, log: Log) {
    this.#config = config;
    this.#log = log;
    this.#certs = new CertificateManager(config, log, (listener, set) => this.#workers?.broadcast({ type: 'tls-certificates', listener, set }), undefined, this.#count);
  }

  /** The primary's TLS counters, in the registry /metrics exposes (primary/exposition.ts). */
  registerMetrics(registry: client.Registry): void {
    const registers = [registry];
    this.#counters = {
      acme: new client.Counter({ name: 'portcullis_acme_certificates_total', help: 'ACME certificate requests, by outcome (issued, renewed, failed)', labelNames: ['outcome'], registers }),
      on_demand: new client.Counter({ name: 'portcullis_acme_on_demand_total', help: 'Names clients asked for that no certificate covered, by verdict (approved, refused)', labelNames: ['verdict'], registers }),
      reload: new client.Counter({ name: 'portcullis_certificate_reloads_total', help: 'Configured certificate files read again after they changed, by outcome (loaded, kept: the new pair was not usable)', labelNames: ['outcome'], registers }),
    };
  }

  /** Spawn-time state of a worker: every TLS listener's certificates and the pending challenges. */
  state(): WorkerTlsState {
    return { tls: this.#certs.sets(), challenges: Object.fromEntries(this.#challenges) };
  }

  /** Work that must be done before workers start (the local CA's leaf). */
  async prepare(): Promise<void> {
    this.#internal = await startInternalIssuer(this.#config, this.#certs, this.#log);
  }

  /** Workers are up: watch certificate files, and let ACME issue (workers answer its challenges). */
  start(workers: WorkerChannel): void {
    this.#workers = workers;
    this.#certs.start();
    const acme = new AcmeIssuer(this.#config, this.#certs, { set: (token, value) => this.#setChallenge(token, value) }, this.#log, this.#count);
    if (acme.active) {
      this.#acme = acme;
      acme.start();
    }
  }

  /** A worker's message for TLS (acme-on-demand); others are ignored. */
  onWorkerMessage(msg: FromWorker): void {
    if (msg.type === 'acme-on-demand') void this.#acme?.onDemand(msg.name);
  }

  #setChallenge(token: string, keyAuthorization: string | null): Promise<void> {
    if (keyAuthorization === null) this.#challenges.delete(token);
    else this.#challenges.set(token, keyAuthorization);
    return this.#workers?.broadcastAndWait((id) => ({ type: 'acme-challenge', token, keyAuthorization, id })) ?? Promise.resolve();
  }

  stop(): void {
    this.#acme?.stop();
    this.#internal?.stop();
    this.#certs.stop();
  }
}
