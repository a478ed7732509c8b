// ShapClient: the service's HTTP API as typed calls over fetch (browsers and Node >= 20), with retries on
// 503 and 429 after the service's Retry-After, long-poll waits and typed errors.
import type { components } from "./schema.js";
import {
  JobCanceled, JobFailed, ServiceUnavailable, ShapServiceError, WaitTimeout, errorOf,
} from "./errors.js";

type Schemas = components["schemas"];
export type AnalyzeRequest = Schemas["AnalyzeRequest"];
export type Accepted = Schemas["Accepted"];
export type JobStatus = Schemas["JobStatus"];
export type Datasets = Schemas["Datasets"];
export type Metadata = Schemas["Metadata"];
export type FeatureValues = Schemas["FeatureValues"];
export type WhoAmI = Schemas["WhoAmI"];
export type FiltersChecked = Schemas["FiltersChecked"];

/** The states a job does not leave (common.jobstates.TERMINAL). */
export const TERMINAL_STATES: ReadonlySet<string> = new Set(["finished", "failed", "stopped", "canceled"]);
const LONG_POLL_SECONDS = 30; // the most GET /job_status?wait= waits
const RETRIED_STATUSES = new Set([429, 503]); // refusals that did nothing and pass by themselves

export interface ClientOptions {
  /** The service's base URL, e.g. "https://shap.example.com" ("" for the page's own origin). */
  baseUrl: string;
  /** Sent as X-API-KEY: an analyst key in a browser app (see docs/front-ends.md). */
  apiKey?: string;
  /** Times a 503, a 429 or a failed connection is retried (after Retry-After, else a doubling backoff). */
  retries?: number;
  /** Longest pause between retries, in milliseconds. */
  maxBackoffMs?: number;
  /** fetch to use (tests, proxies); the global one by default. */
  fetch?: typeof fetch;
}

export interface WaitOptions {
  /** Give up (WaitTimeout) after this many milliseconds; unbounded by default. */
  timeoutMs?: number;
  /** Abort the wait (and the pending long poll). */
  signal?: AbortSignal;
  /** Called with every status answered while waiting (progress). */
  onStatus?: (status: JobStatus) => void;
}

/** What part of the rows table to fetch (GET /job_status/<id>/rows; docs/results.md). */
export interface RowsOptions {
  /** Names and prefixes such as "shap_*"; every column but value_* by default. */
  columns?: string[];
  offset?: number;
  limit?: number;
  sort?: string;
  order?: "asc" | "desc";
  /** A uniform random sample of this many rows, the same for the same seed. */
  sample?: number;
  seed?: number;
  signal?: AbortSignal;
}

export class ShapClient {
  readonly baseUrl: string;
  private readonly apiKey?: string;
  private readonly retries: number;
  private readonly maxBackoffMs: number;
  private readonly fetcher: typeof fetch;

  constructor(options: ClientOptions) {
    this.baseUrl = options.baseUrl.replace(/\/+$/, "");
    this.apiKey = options.apiKey;
    this.retries = options.retries ?? 5;
    this.maxBackoffMs = options.maxBackoffMs ?? 10_000;
    this.fetcher = options.fetch ?? globalThis.fetch.bind(globalThis);
  }

  /** One call; the 2xx Response as it came, or the typed error (503 and 429 retried first). */
  async send(method: string, path: string, init: { body?: unknown; query?: Record<string, string | number | undefined>;
                                                   accept?: string; signal?: AbortSignal } = {}): Promise<Response> {
    const url = this.url(path, init.query);
    const headers: Record<string, string> = { Accept: init.accept ?? "application/json" };
    if (this.apiKey) headers["X-API-KEY"] = this.apiKey;
    if (init.body !== undefined) headers["Content-Type"] = "application/json";
    const body = init.body === undefined ? undefined : JSON.stringify(init.body);
    for (let attempt = 0; ; attempt++) {
      const failure = await this.attempt(method, url, { method, headers, body, signal: init.signal });
      if (failure instanceof Response) return failure;
      if (attempt >= this.retries || !RETRIED_STATUSES.has(failure.status ?? 503)) throw failure;
      await sleep(failure.retryAfter !== null ? Math.min(failure.retryAfter * 1000, this.maxBackoffMs)
        : Math.min(250 * 2 ** attempt, this.maxBackoffMs), init.signal);
    }
  }

  /** One request: its 2xx Response, or the typed error to retry or throw. A POST that got no answer is not
   *  retried (it may have been carried out); an aborted request throws the abort. */
  private async attempt(method: string, url: string, request: RequestInit): Promise<Response | ShapServiceError> {
    let answer: Response;
    try {
      answer = await this.fetcher(url, request);
    } catch (caught) {
      if (request.signal?.aborted) throw caught;
      const lost = new ServiceUnavailable(`no answer from ${url}: ${String(caught)}`, { status: null, code: null });
      if (method === "POST") throw lost;
      return lost;
    }
    return answer.ok ? answer : errorOf(answer.status, await bodyOf(answer), answer.headers);
  }

  private url(path: string, query?: Record<string, string | number | undefined>): string {
    const params = new URLSearchParams();
    for (const [name, value] of Object.entries(query ?? {})) if (value !== undefined) params.set(name, String(value));
    const text = params.toString();
    return `${this.baseUrl}${path}${text ? `?${text}` : ""}`;
  }

  private async json<T>(method: string, path: string, init: Parameters<ShapClient["send"]>[2] = {}): Promise<T> {
    return (await (await this.send(method, path, init)).json()) as T;
  }

  /** The key's role: admin (API_KEY) or analyst (ANALYST_API_KEYS). */
  whoami(): Promise<WhoAmI> { return this.json("GET", "/whoami"); }

  /** Every dataset with its version and size. */
  datasets(): Promise<Datasets> { return this.json("GET", "/datasets"); }

  /** A dataset's columns, types and statistics. */
  metadata(dataset = "default"): Promise<Metadata> { return this.json("GET", "/metadata", { query: { dataset } }); }

  /** POST /analyze's checks without enqueueing: 200 with the rows the filters select, or InvalidRequest. */
  validateFilters(request: AnalyzeRequest): Promise<FiltersChecked> {
    return this.json("POST", "/filters/validate", { body: request });
  }

  /** Submit an analysis: its job id (202), or a finished job's when an identical one answers it (200). */
  analyze(request: AnalyzeRequest): Promise<Accepted> { return this.json("POST", "/analyze", { body: request }); }

  /** A job's state now, or after long-polling up to `wait` seconds (at most 30) for it to end. */
  status(jobId: string, options: { wait?: number; fields?: string[]; signal?: AbortSignal } = {}): Promise<JobStatus> {
    return this.json("GET", `/job_status/${encodeURIComponent(jobId)}`, {
      query: { wait: options.wait, fields: options.fields?.join(",") }, signal: options.signal });
  }

  /** Long-poll until the job ends (finished, failed, stopped or canceled); its last status. */
  async wait(jobId: string, options: WaitOptions = {}): Promise<JobStatus> {
    const deadline = options.timeoutMs === undefined ? Infinity : Date.now() + options.timeoutMs;
    for (;;) {
      const left = (deadline - Date.now()) / 1000;
      const status = await this.status(jobId, { wait: Math.max(0, Math.min(LONG_POLL_SECONDS, Math.ceil(left))),
                                                signal: options.signal });
      options.onStatus?.(status);
      if (TERMINAL_STATES.has(status.status)) return status;
      if (Date.now() >= deadline) {
        throw new WaitTimeout(`job ${jobId} is still ${status.status} after ${options.timeoutMs} ms`,
                              { status: null, code: "wait_timeout" });
      }
    }
  }

  /** Wait for the job and return its result; JobFailed or JobCanceled when it ended without one. */
  async result(jobId: string, options: WaitOptions = {}): Promise<NonNullable<JobStatus["result"]>> {
    const status = await this.wait(jobId, options);
    if (status.status === "failed") {
      throw new JobFailed(status.error?.message ?? `job ${jobId} failed`, { status: null, code: status.error?.type ?? null });
    }
    if (status.status !== "finished" || !status.result) {
      throw new JobCanceled(`job ${jobId} ended ${status.status} without a result`, { status: null, code: status.status });
    }
    return status.result;
  }

  /** Cancel a job (queued: canceled; running: stopped). Conflict when it had already ended. */
  cancel(jobId: string): Promise<JobStatus> { return this.json("DELETE", `/job_status/${encodeURIComponent(jobId)}`); }

  /** The explained rows' feature values of a finished analysis. */
  featureValues(jobId: string): Promise<FeatureValues> {
    return this.json("GET", `/job_status/${encodeURIComponent(jobId)}/feature_values`);
  }

  /** The explained rows of a finished analysis as an Arrow table (GET /job_status/<id>/rows, an Arrow IPC
   *  stream): one row per explained row, its features' values and SHAP values. apache-arrow is loaded on first use. */
  async rows(jobId: string, options: RowsOptions = {}): Promise<import("apache-arrow").Table> {
    const { signal, columns, ...cut } = options;
    const answer = await this.send("GET", `/job_status/${encodeURIComponent(jobId)}/rows`, {
      accept: "application/vnd.apache.arrow.stream", signal, query: { ...cut, columns: columns?.join(",") } });
    const { tableFromIPC } = await import("apache-arrow");
    return tableFromIPC(new Uint8Array(await answer.arrayBuffer()));
  }

  /** A finished analysis as one stand-alone HTML page (GET /job_status/<id>/report): its text, waiting up to
   *  `wait` seconds a try for its charts to be drawn (a 202 while they are; retried until `timeoutMs`). */
  async report(jobId: string, options: { wait?: number; timeoutMs?: number; signal?: AbortSignal } = {}): Promise<string> {
    const deadline = Date.now() + (options.timeoutMs ?? 120_000);
    for (;;) {
      const answer = await this.send("GET", `/job_status/${encodeURIComponent(jobId)}/report`, {
        accept: "text/html", query: { wait: options.wait ?? 10 }, signal: options.signal });
      if (answer.status !== 202) return answer.text();
      await answer.body?.cancel();
      if (Date.now() >= deadline) {
        throw new WaitTimeout(`the report of job ${jobId} is still being drawn`, { status: 202, code: "wait_timeout" });
      }
    }
  }
}

async function bodyOf(answer: Response): Promise<unknown> {
  const text = await answer.text();
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const timer = setTimeout(resolve, ms);
    signal?.addEventListener("abort", () => { clearTimeout(timer); reject(signal.reason); }, { once: true });
  });
}

