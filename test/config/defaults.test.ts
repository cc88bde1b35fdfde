// The zod-free run-time defaults equal what the schema fills in.
import { expect, test } from 'vitest';
import { WEBSOCKET_DEFAULTS } from '../../src/config/defaults.js';
import { defaultWebSocketSettings } from '../../src/config/schema.js';

test('WEBSOCKET_DEFAULTS matches the schema defaults', () => {
  expect(WEBSOCKET_DEFAULTS).toEqual(defaultWebSocketSettings());
});
