// Every call to the service: the API key from this tab's sessionStorage, the service's own error messages.

const KEY_NAME = "shap-microservice.api-key";
const PLOT_RETRIES = 90;  // a plot is rendered by a worker: 202 until it is ready, polled once a second
// The service answers a long poll the moment the job ends, else after this many seconds with its progress: short
// enough that the progress (CatBoost's tree count while it trains) is seen moving, one request a second at most.
const LONG_POLL_SECONDS = 1;

// The job states in which a job is still to end (the service's jobstates): the page's one list of them.
export const RUNNING = new Set(["queued", "started", "deferred", "scheduled"]);

export const apiKey = {
  get: () => sessionStorage.getItem(KEY_NAME) ?? "",
  set: (value) => (value ? sessionStorage.setItem(KEY_NAME, value) : sessionStorage.removeItem(KEY_NAME)),
};

export class ApiError extends Error {
  constructor(message, status, code) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

function headers(extra = {}) {
  const key = apiKey.get();
  return key ? { ...extra, "X-API-KEY": key } : extra;
}

function parsed(text) {
  try {
    return text ? JSON.parse(text) : null;
  } catch {
    return null;  // not JSON: the status line says what happened
  }
}

// The body of a successful answer; else an ApiError carrying the service's own message.
function checked(status, text) {
  const body = parsed(text);
  if (status >= 200 && status < 300) return body;
  const message = body?.error ?? `HTTP ${status}${text ? `: ${text.slice(0, 300)}` : ""}`;
  throw new ApiError(message, status, body?.code);
}

async function call(path, options = {}) {
  const response = await fetch(path, { ...options, headers: headers(options.headers) });
  return checked(response.status, await response.text());
}

export const getJSON = (path, signal) => call(path, { signal });

export const postJSON = (path, payload, signal) =>
  call(path, { method: "POST", body: JSON.stringify(payload), signal,
               headers: { "Content-Type": "application/json" } });

export const remove = (path) => call(path, { method: "DELETE" });

// PUT /datasets/<name> as a multipart upload; XMLHttpRequest because fetch reports no upload progress.
export function uploadDataset(name, file, query, onProgress) {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open("PUT", `/datasets/${encodeURIComponent(name)}?${new URLSearchParams(query)}`);
    Object.entries(headers()).forEach(([header, value]) => xhr.setRequestHeader(header, value));
    xhr.upload.onprogress = (event) => event.lengthComputable && onProgress(event.loaded / event.total);
    xhr.onload = () => {
      try {
        resolve(checked(xhr.status, xhr.responseText));
      } catch (error) {
        reject(error);
      }
    };
    xhr.onerror = () => reject(new ApiError("The upload did not reach the service (network error).", 0));
    const form = new FormData();
    form.append("file", file, file.name);
    xhr.send(form);
  });
}

// The job's status body, with only `fields` of its result once it finished (no field list: no result at all
// is asked for beyond the status, since `fields` is how the page avoids the whole result).
export const jobStatus = (jobId, fields, wait = 0) => {
  const query = new URLSearchParams({ fields: fields.join(",") });
  if (wait) query.set("wait", wait);
  return getJSON(`/job_status/${encodeURIComponent(jobId)}?${query}`);
};

// Long-poll a job until it ends (?wait=: the service answers as soon as it ends, or with its progress after
// LONG_POLL_SECONDS); onProgress(status body) after each answer. Returns the final status body, with `fields`.
export async function waitForJob(jobId, fields, onProgress, isCanceled) {
  for (;;) {
    const body = await jobStatus(jobId, fields, LONG_POLL_SECONDS);
    onProgress(body);
    if (!RUNNING.has(body.status) || isCanceled()) return body;
  }
}

// GET /job_status/<id>/rows in its columnar JSON form ({column: [values]}); query: columns, sort, order,
// offset, limit, sample, seed (docs/api.md, "The rows table").
export function jobRows(jobId, query) {
  const params = new URLSearchParams({ format: "json" });
  for (const [name, value] of Object.entries(query)) if (value != null) params.set(name, value);
  return getJSON(`/job_status/${encodeURIComponent(jobId)}/rows?${params}`);
}

// A download of bytes the service writes (the rows as CSV, the whole result): fetched with the key header.
export async function fetchBlob(path) {
  const response = await fetch(path, { headers: headers() });
  if (response.status !== 200) checked(response.status, await response.text());
  return response.blob();
}

// A rendered plot's bytes; the service answers 202 while a worker renders it.
export async function fetchPlot(path) {
  for (let attempt = 0; attempt < PLOT_RETRIES; attempt += 1) {
    const response = await fetch(path, { headers: headers() });
    if (response.status === 200) return response.blob();
    const text = await response.text();
    if (response.status !== 202) checked(response.status, text);
    await sleep(1000);
  }
  throw new ApiError("The plot was still being drawn after 90 s; try again.", 202);
}
