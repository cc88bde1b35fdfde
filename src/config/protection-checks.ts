// Checks of protection fields that span fields: a rewrite's placeholders must be the route's
// own parameters or {path}. Called from validate.ts on the raw routes (the schema has already
// reported anything malformed in the fields themselves).
import type { Problem } from './validate.js';

const PLACEHOLDER = /\{([A-Za-z_][A-Za-z0-9_]*)\}/g;

export function protectionProblems(routes: readonly unknown[]): Problem[] {
  const problems: Problem[] = [];
  routes.forEach((route, i) => {
    if (typeof route !== 'object' || route === null) return;
    const r = route as Record<string, unknown>;
    if (typeof r['rewrite'] !== 'string') return;
    const path = typeof r['path'] === 'string' ? r['path'] : '/';
    const params = new Set([...path.matchAll(/:([A-Za-z_][A-Za-z0-9_]*)/g)].map((m) => m[1]!));
    for (const m of r['rewrite'].matchAll(PLACEHOLDER)) {
      const name = m[1]!;
      if (name !== 'path' && !params.has(name)) {
        const known = ['{path}', ...[...params].map((p) => `{${p}}`)].join(', ');
        problems.push({ path: ['routes', i, 'rewrite'], at: 'value', message: `unknown placeholder {${name}} (this route has ${known})` });
      }
    }
  });
  return problems;
}
