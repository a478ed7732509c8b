// Typed errors: each carries the HTTP status and the service's machine `code` of its one error body
// {"success": false, "error", "code"[, "details"]}, and the request id the service answered with.

export interface ErrorInit {
  status: number | null;
  code: string | null;
  details?: unknown;
  requestId?: string | null;
  retryAfter?: number | null;
}

/** An error the service reported (or, for ServiceUnavailable/TooManyRequests, kept reporting through every retry). */
export class ShapServiceError extends Error {
  readonly status: number | null;
  readonly code: string | null;
  readonly details: unknown;
  readonly requestId: string | null;
  /** Seconds the last answer's Retry-After asked to wait (429, 503), when it said. */
  readonly retryAfter: number | null;

  constructor(message: string, init: ErrorInit) {
    super(message);
    this.name = new.target.name;
    this.status = init.status;
    this.code = init.code;
    this.details = init.details;
    this.requestId = init.requestId ?? null;
    this.retryAfter = init.retryAfter ?? null;
  }
}

/** 400: the request must change (the message says how). */
export class InvalidRequest extends ShapServiceError {}
/** 401: missing or unknown X-API-KEY. */
export class Unauthorized extends ShapServiceError {}
/** 403 `forbidden`: the key's role may not do this (an analyst key on an admin route); `details.needed` names the role. */
export class Forbidden extends ShapServiceError {}
/** 404: no such job, dataset or route. */
export class NotFound extends ShapServiceError {}
/** 409: the operation does not fit the current state (e.g. cancelling a job that already ended). */
export class Conflict extends ShapServiceError {}
/** 413: the body is larger than MAX_UPLOAD_MB. */
export class PayloadTooLarge extends ShapServiceError {}
/** 429 (e.g. `too_many_renders`), after every retry. */
export class TooManyRequests extends ShapServiceError {}
/** 503 (Redis unreachable) or no connection, after every retry. */
export class ServiceUnavailable extends ShapServiceError {}
/** The job ended `failed`; `code` is the service's error type. */
export class JobFailed extends ShapServiceError {}
/** The job ended `canceled` or `stopped` and has no result. */
export class JobCanceled extends ShapServiceError {}
/** wait() ran out of time while the job was still queued or running. */
export class WaitTimeout extends ShapServiceError {}

const BY_STATUS: Record<number, typeof ShapServiceError> = {
  400: InvalidRequest, 401: Unauthorized, 403: Forbidden, 404: NotFound, 409: Conflict, 413: PayloadTooLarge,
  429: TooManyRequests, 503: ServiceUnavailable,
};

/** The typed error of an error answer, from its one error body when it has one. */
export function errorOf(status: number, body: unknown, headers: Headers): ShapServiceError {
  const Kind = BY_STATUS[status] ?? ShapServiceError;
  const requestId = headers.get("X-Request-ID");
  const retryAfter = retryAfterSeconds(headers);
  if (typeof body === "object" && body !== null && "error" in body) {
    const { error, code, details } = body as { error: unknown; code?: unknown; details?: unknown };
    return new Kind(String(error), { status, code: typeof code === "string" ? code : null, details, requestId,
                                     retryAfter });
  }
  return new Kind(`HTTP ${status}: ${String(body).slice(0, 200)}`, { status, code: null, requestId, retryAfter });
}

/** Retry-After in seconds (the service sends whole seconds), or null. */
export function retryAfterSeconds(headers: Headers): number | null {
  const raw = headers.get("Retry-After");
  return raw !== null && /^\d+$/.test(raw.trim()) ? Number(raw.trim()) : null;
}
