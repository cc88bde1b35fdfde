// IP allow/deny: CIDR lists compiled once (net/cidr.ts), checked against the one client identity
// (ex.identity.clientIp: the socket, or trusted hops only). Deny wins over allow.
import { compileCidrs } from '../net/cidr.js';
import { ProxyError } from '../errors.js';
import type { IpRulesConfig } from '../config/protection-types.js';
import { refuse, type Filter, type Refusal } from './verdict.js';

/** A predicate: true when the client may pass these rules. */
export type IpPredicate = (ip: string) => boolean;

export function compileIpRules(rules: IpRulesConfig): IpPredicate {
  const deny = compileCidrs(rules.deny);
  const allow = rules.allow === undefined ? null : compileCidrs(rules.allow);
  if (allow === null) return (ip) => !deny(ip);
  return (ip) => allow(ip) && !deny(ip);
}

export function ipCheck(rules: IpRulesConfig, scope: string): Filter {
  const pass = compileIpRules(rules);
  let denied: Refusal | null = null;
  return (ex) => {
    if (pass(ex.identity!.clientIp)) return null;
    return (denied ??= refuse(new ProxyError('PC_ERR_IP_DENIED', scope)));
  };
}
