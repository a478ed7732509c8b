// The page's address holds what it shows (docs/page.md, "Links"): `#job=<id>&request=<the request as JSON>`,
// the very object POST /analyze was sent (so whatever the editors add to it is in the link too), never the API
// key. The last dataset chosen is remembered in localStorage for the next visit without a link.

const LAST_DATASET = "shap-microservice.last-dataset";

// {job, request} from the address's fragment; either may be null (no link, or a link to a request only).
export function readLink() {
  const params = new URLSearchParams(location.hash.slice(1));
  let request = null;
  try {
    request = params.has("request") ? JSON.parse(params.get("request")) : null;
  } catch {
    request = null;  // a mangled link: the page opens as without one
  }
  const valid = request && typeof request === "object" && !Array.isArray(request) ? request : null;
  return { job: params.get("job") || null, request: valid };
}

// The address of a submitted request and its job; replaced, not pushed: Back leaves the page as before.
export function writeLink(request, job) {
  const params = new URLSearchParams();
  if (job) params.set("job", job);
  params.set("request", JSON.stringify(request));
  history.replaceState(null, "", `${location.pathname}${location.search}#${params}`);
}

export const lastDataset = {
  get: () => localStorage.getItem(LAST_DATASET),
  set: (name) => name && localStorage.setItem(LAST_DATASET, name),
};

// A filter string the page composed (filters.js: "<column> <op> <value>", "high <column>") back into the
// builder's column, operator and value; the column is matched against the dataset's names, longest first, since
// a name may hold spaces. null for a string the builder cannot show.
export function parseFilter(text, columnNames, operators) {
  const names = [...columnNames].sort((a, b) => b.length - a.length);
  for (const op of ["high", "low"]) {
    const column = text.startsWith(`${op} `) ? text.slice(op.length + 1) : null;
    if (column != null && names.includes(column)) return { column, op, value: "" };
  }
  const column = names.find((name) => text.startsWith(`${name} `));
  if (!column) return null;
  const rest = text.slice(column.length + 1);
  const op = [...operators].sort((a, b) => b.length - a.length).find((o) => rest.startsWith(`${o} `));
  if (!op) return null;
  const value = rest.slice(op.length + 1);
  return { column, op, value: /^".*"$/.test(value) ? value.slice(1, -1) : value };
}
