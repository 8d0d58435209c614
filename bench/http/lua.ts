import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

/**
 * wrk's Lua scripts, written to the run's temporary directory. A static request (one
 * method, path, header set and body for every request) uses wrk's fast path: it formats
 * the request once. A pooled one picks a distinct entry of a file per request: an order id
 * and the index of its owner's token (the cache-miss reads, and payments, which also get a
 * fresh Idempotency-Key each). Thread t of T takes entries offset+t, offset+t+T, …, so the
 * next round starts after the busiest thread's last entry and no entry is ever used twice.
 */

export interface StaticRequest {
  method: 'GET' | 'POST';
  headers: Record<string, string>;
  body?: string;
}

export interface PooledRequest {
  kind: 'read' | 'pay';
  /** Lines `<orderId> <owner index>`. */
  poolFile: string;
  /** One bearer token per line; owner index i is line i + 1. */
  tokensFile: string;
  /** Payments: the Idempotency-Key is this followed by the order id. */
  keyPrefix?: string;
}

/** A Lua long string, whatever the text holds. */
function literal(text: string): string {
  let eq = '';
  while (text.includes(`]${eq}]`)) eq += '=';
  return `[${eq}[${text}]${eq}]`;
}

// setup() runs in the main Lua state, once per thread, before the thread's init(); done()
// reads the threads' globals (`used`, `exhausted`) and prints the one line the bench parses.
const COMMON = `
local threads, next_index = {}, 0
function setup(thread)
  thread:set("index", next_index)
  next_index = next_index + 1
  table.insert(threads, thread)
end
used, exhausted, first_bad = 0, 0, ""
function done(summary, latency, requests)
  local max_used, out, bad = 0, 0, ""
  for _, t in ipairs(threads) do
    local u = t:get("used") or 0
    if u > max_used then max_used = u end
    out = out + (t:get("exhausted") or 0)
    if bad == "" then bad = t:get("first_bad") or "" end
  end
  local e = summary.errors
  io.write(string.format('BENCH_JSON {"requests":%.0f,"durationUs":%.0f,"p50Us":%.0f,"p99Us":%.0f,' ..
    '"connect":%.0f,"read":%.0f,"write":%.0f,"status":%.0f,"timeout":%.0f,"maxUsed":%.0f,"exhausted":%.0f,"firstBad":"%s"}\\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    e.connect, e.read, e.write, e.status, e.timeout, max_used, out, bad))
end
`;

export function staticScript(dir: string, name: string, r: StaticRequest): string {
  const lines = [`wrk.method = "${r.method}"`];
  for (const [k, v] of Object.entries(r.headers)) lines.push(`wrk.headers[ ${literal(k)} ] = ${literal(v)}`);
  if (r.body !== undefined) lines.push(`wrk.body = ${literal(r.body)}`);
  return write(dir, name, `${lines.join('\n')}\n${COMMON}`);
}

/** `init(args)`: args[1] is the pool offset, args[2] the thread count. */
export function pooledScript(dir: string, name: string, r: PooledRequest): string {
  const request =
    r.kind === 'read'
      ? `return wrk.format("GET", "/v1/orders/" .. id, { ["Authorization"] = auth })`
      : `return wrk.format("POST", "/v1/payments", {
      ["Authorization"] = auth,
      ["Content-Type"] = "application/json",
      ["Idempotency-Key"] = ${literal(r.keyPrefix ?? '')} .. id,
    }, '{"orderId":"' .. id .. '","paymentMethod":{"type":"card","token":"tok_visa"}}')`;
  const script = `
local ids, owners, tokens = {}, {}, {}
function init(args)
  local offset, stride = tonumber(args[1]), tonumber(args[2])
  for line in io.lines(${literal(r.tokensFile)}) do tokens[#tokens + 1] = "Bearer " .. line end
  local i = 0
  for line in io.lines(${literal(r.poolFile)}) do
    if i >= offset and (i - offset) % stride == index then
      local id, owner = line:match("^(%S+) (%d+)$")
      ids[#ids + 1] = id
      owners[#owners + 1] = tonumber(owner) + 1
    end
    i = i + 1
  end
  if #ids == 0 then error("the pool has no entry left for thread " .. index) end
end
function request()
  used = used + 1
  local k = used
  if k > #ids then
    -- Used up: counted, and the bench fails the run (a repeat would be a cache hit or a 409).
    exhausted = exhausted + 1
    k = (k - 1) % #ids + 1
  end
  local id, auth = ids[k], tokens[owners[k]]
  ${request}
end
-- Only here, where every request differs: the first answer that is not a 2xx, for the error
-- message. (A response() hook makes wrk hand every answer to Lua, so static scripts go without.)
function response(status, headers, body)
  if (status < 200 or status > 299) and first_bad == "" then
    first_bad = (status .. " " .. (body or "")):sub(1, 300):gsub('[%c"\\\\]', " ")
  end
end
${COMMON}`;
  return write(dir, name, script);
}

function write(dir: string, name: string, text: string): string {
  const file = join(dir, `${name}.lua`);
  writeFileSync(file, text);
  return file;
}
