// JWT bearer tokens (RFC 7519 with RFC 6750 for the challenge), verified with `jose`: the
// signature against configured keys or a JWKS URL, then iss, aud, exp/nbf with a clock skew.
// jose's remote key set caches the JWKS (jwks_cache) and, when a token names a key it does
// not hold (the issuer rotated), fetches the set again at once, at most every 30 s.
import { createLocalJWKSet, createRemoteJWKSet, jwtVerify, errors, type JWTVerifyOptions, type JSONWebKeySet } from 'jose';
import { ProxyError } from '../errors.js';
import type { JwtAuthConfig } from '../config/protection-types.js';
import { refuse, type Check, type Refusal, type Verdict } from './verdict.js';

const ASYMMETRIC = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA'];

/** RFC 6750 §3: the error description is a quoted-string of printable ASCII without `"` and `\`. */
function quoted(text: string): string {
  return text.replace(/[^\x20-\x7e]|["\\]/g, '');
}

export function jwtCheck(config: JwtAuthConfig, realm: string): Check {
  const keys = config.jwks_url !== undefined
    ? createRemoteJWKSet(new URL(config.jwks_url), { cacheMaxAge: config.jwks_cache, cooldownDuration: config.jwks_cooldown, timeoutDuration: 5_000 })
    : createLocalJWKSet({ keys: config.keys as JSONWebKeySet['keys'] });
  const options: JWTVerifyOptions = {
    algorithms: config.algorithms ? [...config.algorithms] : ASYMMETRIC,
    clockTolerance: config.clock_skew / 1000,
    ...(config.issuer === undefined ? {} : { issuer: typeof config.issuer === 'string' ? config.issuer : [...config.issuer] }),
    ...(config.audience === undefined ? {} : { audience: typeof config.audience === 'string' ? config.audience : [...config.audience] }),
  };
  const challenge = `Bearer realm="${realm}"`;
  const missing = refuse(new ProxyError('PC_ERR_AUTH_MISSING', 'bearer'), ['www-authenticate', challenge]);
  const invalid = (code: 'PC_ERR_AUTH_INVALID' | 'PC_ERR_AUTH_EXPIRED', why: string): Refusal =>
    refuse(new ProxyError(code, why), ['www-authenticate', `${challenge}, error="invalid_token", error_description="${quoted(why)}"`]);

  return (ex) => {
    const header = ex.header('authorization');
    if (header === undefined || header.length < 8 || header.slice(0, 7).toLowerCase() !== 'bearer ') return missing;
    const token = header.slice(7).trim();
    if (token === '') return missing;
    return jwtVerify(token, keys, options).then(
      () => null,
      (err: unknown): Verdict => {
        if (err instanceof errors.JWTExpired) return invalid('PC_ERR_AUTH_EXPIRED', 'token expired');
        if (err instanceof errors.JWTClaimValidationFailed) return invalid('PC_ERR_AUTH_INVALID', `claim ${err.claim} rejected`);
        if (err instanceof errors.JWKSNoMatchingKey) return invalid('PC_ERR_AUTH_INVALID', 'unknown signing key');
        if (err instanceof errors.JWKSTimeout || err instanceof errors.JWKSInvalid || (err instanceof Error && !(err instanceof errors.JOSEError))) {
          return refuse(new ProxyError('PC_ERR_AUTH_UNAVAILABLE', `JWKS: ${(err as Error).message}`));
        }
        return invalid('PC_ERR_AUTH_INVALID', 'invalid token');
      },
    );
  };
}
