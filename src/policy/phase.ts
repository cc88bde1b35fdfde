// The policy phase (pipeline.ts protect): runs the route's compiled checks in order, adds the
// gates a folded spelling of the path reaches, and on a pass applies the route's request
// edits and rewrite. Synchronous unless a check answers with a promise (auth services, JWKS,
// scrypt); then the request body is held until the verdict.
import type { Downstream } from '../downstream/contract.js';
import type { Exchange } from '../exchange.js';
import type { Runtime } from '../runtime.js';
import { ProxyError } from '../errors.js';
import { extraGateChecks } from './compile.js';
import { foldPath } from './gate-scope.js';
import { PolicyDownstream } from './policy-downstream.js';
import { editUpstreamHeaders } from './request-edits.js';
import { refuse, type Check, type Verdict } from './verdict.js';
import { answerVerdict } from './answer.js';
import type { ExchangeDone } from '../upstream/forward.js';

/** A pass (the Downstream later phases write to), null when answered here, or a pending check. */
export type PhaseResult = PolicyDownstream | null | Promise<PolicyDownstream | null>;

function runFrom(checks: readonly Check[], i: number, ex: Exchange, pd: PolicyDownstream): Verdict | null | Promise<Verdict | null> {
  for (; i < checks.length; i++) {
    const v = checks[i]!(ex, pd);
    if (v === null) continue;
    if (v instanceof Promise) {
      const next = i + 1;
      return v.then((r) => (r !== null ? r : runFrom(checks, next, ex, pd)));
    }
    return v;
  }
  return null;
}

/** Request edits and the rewrite, once every check passed; a refusal when the rewrite is invalid. */
function admit(ex: Exchange, pd: PolicyDownstream): PolicyDownstream | Verdict {
  const p = ex.route!.policies;
  if (p.requestEdits !== null) editUpstreamHeaders(ex, p.requestEdits.remove, p.requestEdits.add);
  if (p.rewrite !== null) {
    const path = p.rewrite.apply(ex, ex.routePrefix, ex.routeParams);
    if (path === null) return refuse(new ProxyError('PC_ERR_BAD_PATH', 'rewrite produced an invalid path'));
    ex.path = path;
  }
  return pd;
}

/** Answers a verdict (through the route's response edits) and ends the exchange. */
function answer(ex: Exchange, pd: PolicyDownstream, v: PolicyDownstream | Verdict, done: ExchangeDone): PolicyDownstream | null {
  if (v instanceof PolicyDownstream) return v;
  answerVerdict(ex, pd, v, done);
  return null;
}

/**
 * Hot path. `ds` is the front end's; a pass returns it wrapped for every later phase. A refusal
 * is answered here and `done` called; so is a client that left while a check was pending.
 */
export function runPolicies(ex: Exchange, ds: Downstream, rt: Runtime, done: ExchangeDone): PhaseResult {
  const prot = rt.protection;
  const route = ex.route!;
  const p = route.policies;
  const pd = new PolicyDownstream(ds, ex, p.responseEdits);
  if (prot.redirects !== null) {
    const r = prot.redirects.match(ex);
    if (r !== null) return answer(ex, pd, r, done);
  }
  let checks = p.checks;
  if (prot.scope !== null) {
    const gate = prot.scope.find(ex.host, foldPath(ex.normalizedPath));
    if (gate >= 0 && !p.gates.has(gate)) checks = [...checks, ...extraGateChecks(prot, gate, p)];
  }
  const v = runFrom(checks, 0, ex, pd);
  if (v === null) return answer(ex, pd, admit(ex, pd), done);
  if (!(v instanceof Promise)) return answer(ex, pd, v, done);
  // Waiting: hold the body (it must be claimed now or uWS drops it), notice a client leaving.
  const length = ex.header('content-length');
  if ((length !== undefined && length !== '0') || ex.header('transfer-encoding') !== undefined) pd.holdBody();
  let gone = false;
  ds.onAbort(() => { gone = true; });
  return v.then(
    (verdict) => {
      if (gone || ds.done) return left(ex, done);
      pd.releaseBody();
      if (pd.overflowed) return answer(ex, pd, refuse(new ProxyError('PC_ERR_UPLOAD_BACKLOG', 'request body sent while an auth check was pending')), done);
      return answer(ex, pd, verdict !== null ? verdict : admit(ex, pd), done);
    },
    (err: unknown) => {
      if (gone || ds.done) return left(ex, done);
      return answer(ex, pd, refuse(new ProxyError('PC_ERR_INTERNAL', err instanceof Error ? err.message : String(err))), done);
    },
  );
}

/**
 * For the cache's hit path (cache/hit-path.ts): true when runPolicies would let the request
 * through as it is, decided by reading only: the route's checks are all filters
 * (RoutePolicies.filters) and pass, no redirect or further gate applies, and the route edits
 * neither the request nor its path. False: nothing was changed; runPolicies decides and answers.
 */
export function passesAsIs(ex: Exchange, rt: Runtime): boolean {
  const prot = rt.protection;
  const p = ex.route!.policies;
  const filters = p.filters;
  if (filters === null || p.requestEdits !== null || p.rewrite !== null) return false;
  if (prot.redirects !== null && prot.redirects.match(ex) !== null) return false;
  if (prot.scope !== null) {
    const gate = prot.scope.find(ex.host, foldPath(ex.normalizedPath));
    if (gate >= 0 && !p.gates.has(gate)) return false;
  }
  for (let i = 0; i < filters.length; i++) if (filters[i]!(ex) !== null) return false;
  return true;
}

/** The client left while a check was pending: logged as 499, nothing sent. */
function left(ex: Exchange, done: ExchangeDone): null {
  ex.clientAborted = true;
  ex.status = 499;
  ex.error = new ProxyError('PC_ERR_CLIENT_ABORTED');
  done(ex);
  return null;
}
