// The client's transport without a service: Retry-After honoured on 429 and 503, typed errors carrying the
// service's code. A scripted fetch answers; nothing listens.
import assert from "node:assert/strict";
import { test } from "node:test";
import { Forbidden, ServiceUnavailable, ShapClient, TooManyRequests, Unauthorized } from "../dist/index.js";

function scripted(...answers) {
  const calls = [];
  const fetch = async (url, init) => {
    calls.push({ url, init, at: Date.now() });
    const [status, body, headers] = answers.shift();
    return new Response(JSON.stringify(body), { status, headers: { "Content-Type": "application/json", ...headers } });
  };
  return { fetch, calls };
}

const refusal = (code) => ({ success: false, error: `refused: ${code}`, code });

test("a 429 is retried after its Retry-After, then the answer comes back", async () => {
  const { fetch, calls } = scripted([429, refusal("too_many_renders"), { "Retry-After": "1" }],
                                    [200, { role: "analyst", key_required: true }, {}]);
  const client = new ShapClient({ baseUrl: "http://service.invalid", apiKey: "k", fetch });
  assert.deepEqual(await client.whoami(), { role: "analyst", key_required: true });
  assert.equal(calls.length, 2);
  assert.ok(calls[1].at - calls[0].at >= 950, `retried after ${calls[1].at - calls[0].at} ms, not Retry-After's 1 s`);
  assert.equal(calls[0].init.headers["X-API-KEY"], "k");
});

test("a 503 that lasts through every retry is a ServiceUnavailable; a 429 a TooManyRequests with its code", async () => {
  const gone = scripted(...Array(3).fill([503, refusal("redis_unavailable"), { "Retry-After": "0" }]));
  const unavailable = new ShapClient({ baseUrl: "http://service.invalid", fetch: gone.fetch, retries: 2 });
  await assert.rejects(unavailable.datasets(), (e) => e instanceof ServiceUnavailable && e.code === "redis_unavailable"
    && e.status === 503 && e.retryAfter === 0);
  assert.equal(gone.calls.length, 3);
  const busy = scripted([429, refusal("too_many_renders"), { "Retry-After": "7", "X-Request-ID": "r1" }]);
  const limited = new ShapClient({ baseUrl: "http://service.invalid", fetch: busy.fetch, retries: 0 });
  await assert.rejects(limited.datasets(), (e) => e instanceof TooManyRequests && e.code === "too_many_renders"
    && e.retryAfter === 7 && e.requestId === "r1");
});

test("401 and 403 are typed and never retried", async () => {
  const { fetch, calls } = scripted([401, refusal("unauthorized"), {}],
                                    [403, { ...refusal("forbidden"), details: { role: "analyst", needed: "admin" } }, {}]);
  const client = new ShapClient({ baseUrl: "http://service.invalid", fetch });
  await assert.rejects(client.datasets(), (e) => e instanceof Unauthorized && e.code === "unauthorized");
  await assert.rejects(client.cancel("j1"), (e) => e instanceof Forbidden && e.details.needed === "admin");
  assert.equal(calls.length, 2);
});
