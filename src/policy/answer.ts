// Sends a policy's verdict to the client: a refusal as the usual error answer (with its own
// headers: Allow, WWW-Authenticate, Retry-After, RateLimit…), a whole answer (a redirect, the
// auth service's reply) as it is; counts it by reason. Through the PolicyDownstream when there
// is one, so refusals get the route's security headers too.
import type { Downstream } from '../downstream/contract.js';
import type { Exchange } from '../exchange.js';
import { respondError, type ExchangeDone } from '../upstream/forward.js';
import { policyRefusals, type Verdict } from './verdict.js';

/** A request with a body we are not going to read: close after the answer, so its bytes are never parsed as a next request. */
function hasBody(ex: Exchange): boolean {
  const length = ex.header('content-length');
  return (length !== undefined && length !== '0') || ex.header('transfer-encoding') !== undefined;
}

export function answerVerdict(ex: Exchange, ds: Downstream, v: Verdict, done: ExchangeDone): void {
  if (v.kind === 'refusal') {
    policyRefusals.with(v.error.code).inc();
    respondError(ds, ex, v.error, hasBody(ex), v.headers);
  } else {
    policyRefusals.with(v.metric).inc();
    const headOnly = ex.head.method === 'HEAD';
    const body = typeof v.body === 'string' ? Buffer.from(v.body) : v.body;
    ex.status = v.status;
    ex.responseBytes = headOnly ? 0 : body.length;
    if (hasBody(ex)) {
      // respond() can close the connection; it takes text (the answer is short, UTF-8 in practice).
      ds.respond(v.status, v.reason, v.headers, body.toString(), true, headOnly);
    } else {
      // Byte for byte, whatever the auth service sent.
      const noBody = headOnly || v.status === 204 || v.status === 304;
      ds.writeHead(v.status, v.reason, v.headers, noBody && !headOnly ? -1 : body.length, noBody);
      if (!noBody && body.length > 0) ds.writeBody(body);
      ds.end();
    }
  }
  done(ex);
}
