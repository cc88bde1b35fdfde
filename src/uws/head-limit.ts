// uWS's own request-head limit. uWS 20.57 answers 431 to a head (request line, header lines
// and the blank line) longer than UWS_HTTP_MAX_HEADERS_SIZE bytes, default 4 KiB, and reads
// that variable once, when its binary loads into the process. Workers are threads of one
// process and read the real environment, so the primary sets it before the first worker
// starts, to limits.max_header_bytes (both count the whole head: request line, header lines
// and the blank line). Raising max_header_bytes therefore takes a restart; lowering it works at
// once (http/request-rules.ts answers 431 itself).

export const UWS_HEAD_LIMIT_VAR = 'UWS_HTTP_MAX_HEADERS_SIZE';

/** uWS's limit for a config's max_header_bytes. */
export function uwsHeadLimit(maxHeaderBytes: number): number {
  return maxHeaderBytes;
}

/** Sets the variable for uWS in this process (the primary, before spawning workers). */
export function setUwsHeadLimit(maxHeaderBytes: number, env: NodeJS.ProcessEnv = process.env): void {
  env[UWS_HEAD_LIMIT_VAR] = String(uwsHeadLimit(maxHeaderBytes));
}
