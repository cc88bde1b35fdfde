// Defaults that worker threads need at run time, as plain values: workers must not load
// the schema (zod) just to read them. test/config/defaults.test.ts checks they equal
// what the schema produces, so the two cannot drift.
import type { WebSocketSettings } from './types.js';

/** The websocket settings a route gets when it has no websocket section. */
export const WEBSOCKET_DEFAULTS: WebSocketSettings = Object.freeze({
  max_message_size: 16 * 1024 * 1024,
  buffer: 1024 * 1024,
  idle_timeout: 120_000,
  ping_interval: 30_000,
  compression: true,
});
