// Small DOM helpers: build elements, format numbers, save a file.

export const $ = (id) => document.getElementById(id);

export function el(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
    else if (value !== false && value != null) node.setAttribute(name, value === true ? "" : value);
  }
  node.append(...children.flat().filter((child) => child != null));
  return node;
}

export function fmt(value) {
  if (value == null) return "";
  if (typeof value !== "number") return String(value);
  if (Number.isInteger(value)) return value.toLocaleString("en-US");
  const size = Math.abs(value);
  return value.toLocaleString("en-US", { maximumSignificantDigits: size >= 1000 ? 7 : 4 });
}

export function options(select, entries, selected) {
  select.replaceChildren(...entries.map(([value, label]) =>
    el("option", { value, selected: value === selected }, label)));
}

export function saveFile(blob, name) {
  const url = URL.createObjectURL(blob);
  const link = el("a", { href: url, download: name });
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10000);
}

export function showError(node, error) {
  node.textContent = error ? error.message ?? String(error) : "";
}
