// Quorra dashboard helpers. Every piece of data reaches the page through textContent or an
// attribute set by the DOM API: never innerHTML.
"use strict";

const Q = (() => {
  const csrf = document.querySelector('meta[name="csrf-token"]').content;

  function el(tag, props, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(props || {})) {
      if (key === "text") node.textContent = value;
      else if (key === "className") node.className = value;
      else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
      else node.setAttribute(key, value);
    }
    for (const child of children) {
      node.append(child instanceof Node ? child : String(child));
    }
    return node;
  }

  async function api(method, path, params) {
    const url = new URL(path, window.location.origin);
    for (const [key, value] of Object.entries(params || {})) {
      if (value !== "" && value !== null && value !== undefined) url.searchParams.set(key, value);
    }
    const headers = { Accept: "application/json" };
    if (method !== "GET") headers["X-CSRF-Token"] = csrf;
    const response = await fetch(url, { method, headers, credentials: "same-origin" });
    if (response.status === 401) {
      window.location.assign("/dashboard/login");
      throw new Error("session ended");
    }
    const body = await response.json().catch(() => ({}));
    if (!response.ok) throw new Error(body.error || body.detail || `HTTP ${response.status}`);
    return body;
  }

  function when(iso) {
    if (!iso) return "—";
    const date = new Date(typeof iso === "number" ? iso * 1000 : iso);
    return date.toLocaleString();
  }

  function replaceRows(tbody, rows) {
    tbody.replaceChildren(...rows);
  }

  function statusBadge(status) {
    return el("span", { className: `status status-${status}`, text: status });
  }

  function jobLink(id) {
    return el("a", { href: `/dashboard/jobs/${encodeURIComponent(id)}`, className: "mono",
                     text: id.slice(0, 8) + "…", title: id });
  }

  return { el, api, when, replaceRows, statusBadge, jobLink };
})();
