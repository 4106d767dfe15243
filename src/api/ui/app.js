// The analysts' workspace: one page that routes in the browser, working on the public API.
// The URL holds each page's state (filters, periods), so a view can be shared; the API key,
// when the server asks for one, stays in this tab's session storage and travels only as the
// API's Authorization header. Text from the server is always set as text, never as HTML.
"use strict";

const KEY = "verbatim.apiKey";
const LANG = "verbatim.language";
const PAGES = ["overview", "explore", "themes", "compare", "follow-ups", "analyse", "login"];
const FACETS = ["channel", "language", "sentiment", "nps_group", "emotion", "topic", "root_cause"];
const PAGE_SIZE = 20;
/** The search parameters Explore's form has a control for. */
const CONTROLS = ["q", "from", "to", "channel", "language", "sentiment", "nps_group", "nps_min", "nps_max", "csat_min",
  "csat_max", "ces_min", "ces_max", "emotion", "topic", "root_cause", "metadata", "sort"];

// ---- words -------------------------------------------------------------------------------

let language = localStorage.getItem(LANG) || (navigator.language || "en").slice(0, 2);
if (!window.VERBATIM_WORDS[language]) language = "en";

function t(key) {
  return window.VERBATIM_WORDS[language][key] ?? window.VERBATIM_WORDS.en[key] ?? key;
}

function translateShell() {
  document.documentElement.lang = language;
  document.querySelectorAll("[data-i18n]").forEach((el) => { el.textContent = t(el.dataset.i18n); });
  document.querySelectorAll("[data-i18n-label]").forEach((el) => el.setAttribute("aria-label", t(el.dataset.i18nLabel)));
}

const number = (value, digits = 1) =>
  value == null ? "–" : new Intl.NumberFormat(language, { maximumFractionDigits: digits }).format(value);
const signed = (value, digits = 1) => (value == null ? "–" : (value > 0 ? "+" : "") + number(value, digits));
const date = (iso) => new Intl.DateTimeFormat(language, { dateStyle: "medium" }).format(new Date(iso));
const timeZone = Intl.DateTimeFormat().resolvedOptions().timeZone || "UTC";

// ---- DOM ---------------------------------------------------------------------------------

/** An element with attributes (`on*` are listeners) and children (strings become text). */
function h(tag, attributes = {}, ...children) {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value == null || value === false) continue;
    if (name.startsWith("on")) el.addEventListener(name.slice(2), value);
    else if (name === "class") el.className = value;
    else el.setAttribute(name, value === true ? "" : value);
  }
  for (const child of children.flat()) {
    if (child == null || child === false) continue;
    el.append(child instanceof Node ? child : String(child));
  }
  return el;
}

function field(label, control, help) {
  const id = control.id || `f-${Math.random().toString(36).slice(2)}`;
  control.id = id;
  const describedBy = help ? `${id}-help` : null;
  if (describedBy) control.setAttribute("aria-describedby", describedBy);
  return h("div", { class: "field" }, h("label", { for: id }, label), control,
    help ? h("small", { id: describedBy }, help) : null);
}

function select(name, value, options) {
  return h("select", { name }, options.map(([v, label]) => h("option", { value: v, selected: v === value }, label)));
}

function badge(label) {
  return h("span", { class: `badge s-${label}` }, t(label));
}

const main = () => document.getElementById("page");

function show(...nodes) {
  main().replaceChildren(...nodes);
}

function failure(error) {
  return h("p", { class: "error", role: "alert" }, t("error") + (error.detail || error.message || error));
}

// ---- API ---------------------------------------------------------------------------------

class ApiError extends Error {
  constructor(status, problem) {
    super(problem.detail || `HTTP ${status}`);
    this.status = status;
    this.detail = problem.detail;
  }
}

async function api(path, options = {}) {
  const headers = { accept: "application/json", ...(options.body ? { "content-type": "application/json" } : {}) };
  const key = sessionStorage.getItem(KEY);
  if (key) headers.authorization = `Bearer ${key}`;
  const response = await fetch(path, { ...options, headers });
  if (response.status === 401 && location.pathname !== "/ui/login") {
    const next = location.pathname + location.search;
    go(`/ui/login?next=${encodeURIComponent(next)}`);
    throw new ApiError(401, { detail: t("key_refused") });
  }
  const body = response.status === 204 ? null : await response.json().catch(() => ({}));
  if (!response.ok) throw new ApiError(response.status, body || {});
  return body;
}

/** The URL's parameters without empty ones. */
function params(source = location.search) {
  const found = new URLSearchParams(source);
  for (const [key, value] of [...found]) if (!value) found.delete(key);
  return found;
}

// ---- routing -----------------------------------------------------------------------------

function go(url, replace = false) {
  history[replace ? "replaceState" : "pushState"](null, "", url);
  route(true);
}

/** Renders the page of the URL; `moved`: after a navigation in the workspace. */
function route(moved = false) {
  const name = location.pathname.replace(/^\/ui\/?/, "") || "overview";
  const page = PAGES.includes(name) ? name : "overview";
  document.querySelectorAll("nav a").forEach((a) => {
    if (a.dataset.page === page) a.setAttribute("aria-current", "page");
    else a.removeAttribute("aria-current");
  });
  document.getElementById("logout").hidden = !sessionStorage.getItem(KEY);
  document.title = `${t(page === "follow-ups" ? "follow_ups" : page)} · verbatim`;
  show(h("p", { class: "muted" }, t("loading")));
  const render = { overview, explore, themes, compare, "follow-ups": followUps, analyse, login }[page];
  // The mark says when the page's data is on screen: what benches/ui.rs measures.
  render().then(() => {
    performance.mark(`verbatim:${page}`);
    // After a page change, the keyboard and screen readers start at its heading.
    const heading = main().querySelector("h1");
    if (moved && heading && page !== "login") {
      heading.tabIndex = -1;
      heading.focus();
    }
  })
    .catch((error) => { if (error.status !== 401) show(failure(error)); });
}

document.addEventListener("click", (event) => {
  const link = event.target.closest("a[href^='/ui/']");
  if (!link || event.metaKey || event.ctrlKey || event.shiftKey || link.target) return;
  event.preventDefault();
  go(link.getAttribute("href"));
});
window.addEventListener("popstate", () => route(true));

// ---- login -------------------------------------------------------------------------------

async function login() {
  // Not offered to password managers: the key is meant to live as long as the tab.
  const input = h("input", { type: "password", name: "key", autocomplete: "off", required: true });
  const message = h("p", { role: "alert" });
  const form = h("form", { class: "panel narrow", onsubmit: async (event) => {
    event.preventDefault();
    sessionStorage.setItem(KEY, input.value.trim());
    try {
      await api("/v1/search?limit=1");
      const next = params().get("next") || "/ui/overview";
      go(next.startsWith("/ui/") ? next : "/ui/overview", true);
    } catch (error) {
      sessionStorage.removeItem(KEY);
      message.textContent = error.status === 401 || error.status === 403 ? t("key_refused") : failure(error).textContent;
    }
  } }, h("h1", {}, t("login")), field(t("api_key"), input, t("key_kept")),
  h("button", { type: "submit" }, t("sign_in")), message);
  show(form);
  input.focus();
}

// ---- overview ----------------------------------------------------------------------------

const KPIS = [["nps", 1], ["csat", 1], ["ces", 2], ["net_sentiment", 1]];

/** A date as the browser's calendar day (the zone the KPIs are asked in). */
function isoDay(d) {
  return `${d.getFullYear()}-${String(d.getMonth() + 1).padStart(2, "0")}-${String(d.getDate()).padStart(2, "0")}`;
}

/** Query parameters, encoded, without empty values. */
function queryOf(values) {
  return params(new URLSearchParams(Object.entries(values).filter(([, v]) => v != null && v !== "")).toString());
}

/** A form's fields as query parameters, without empty values. */
function formQuery(form) {
  return params(new URLSearchParams(new FormData(form)));
}

/** Explore, showing the verbatims behind a number of a topic or root cause in `span`. */
function drillDown(span, name, id) {
  return `/ui/explore?${queryOf({ [name]: id, from: span.from, to: span.to })}`;
}

/** The dates and period a page shows: the URL's, or the last twelve weeks by week. `to` is
 * exclusive, as in the API: the default is tomorrow, so that today counts. */
function spanOf(url) {
  const today = new Date();
  const from = url.get("from") || isoDay(new Date(today.getTime() - 84 * 86400000));
  const to = url.get("to") || isoDay(new Date(today.getTime() + 86400000));
  return { from, to, period: url.get("period") || "week" };
}

function periodForm(span, page) {
  const from = h("input", { type: "date", name: "from", value: span.from });
  const to = h("input", { type: "date", name: "to", value: span.to });
  const period = select("period", span.period, [["day", t("day")], ["week", t("week")], ["month", t("month")]]);
  return h("form", { class: "controls", onsubmit: (event) => {
    event.preventDefault();
    go(`/ui/${page}?${formQuery(event.target)}`);
  } }, field(t("from"), from), field(t("to_exclusive"), to), field(t("period"), period),
  h("button", { type: "submit" }, t("apply")));
}

function kpiCard(total, [name, digits]) {
  const change = total.change && total.change[name];
  const ci = total[`${name}_ci`];
  return h("section", { class: "card", "data-kpi": name, "data-value": total[name] ?? "", "aria-label": t(name) },
    h("h2", {}, t(name)),
    h("p", { class: "value" }, number(total[name], digits)),
    h("p", { class: "muted" }, [ci ? `95 % [${number(ci[0], digits)}; ${number(ci[1], digits)}]` : null,
      `${number(total[`${name}_count`], 0)} ${t("answers")}`].filter(Boolean).join(" · ")),
    change ? h("p", { class: change.significant ? "change significant" : "change" },
      `${signed(change.delta, digits)} ${t("vs_previous")} (${change.significant ? t("significant") : t("not_significant")})`) : null);
}

/** A line per KPI over the periods, on one axis (`unit`, from `low` to `high`). */
function chart(periods, target, kpis, unit, [low, high]) {
  if (!window.uPlot || periods.length < 2) return;
  const colours = ["#2f6db5", "#b5542f"];
  const series = [{}, ...kpis.map((name, i) => ({ label: t(name), stroke: colours[i], width: 2, spanGaps: true }))];
  const data = [periods.map((p) => new Date(p.start).getTime() / 1000), ...kpis.map((name) => periods.map((p) => p[name]))];
  const width = Math.max(280, target.clientWidth || 600);
  new window.uPlot({ width, height: 220, series, axes: [{}, { label: unit }], scales: { y: { range: [low, high] } } }, data, target);
}

function table(headers, rows) {
  return h("table", {}, h("thead", {}, h("tr", {}, headers.map((x) => h("th", { scope: "col" }, x)))),
    h("tbody", {}, rows.map((row) => h("tr", {}, row.map((cell, i) => (i === 0 ? h("th", { scope: "row" }, cell) : h("td", {}, cell)))))));
}

function volumes(report, labelOf = (key) => key ?? t("none")) {
  const total = report.total.count || 1;
  return table([t(report.group_by), t("verbatims"), t("share"), t("nps")], report.groups.map((g) =>
    [labelOf(g.key), number(g.count, 0), `${number((100 * g.count) / total, 1)} %`, number(g.nps)]));
}

async function overview() {
  const span = spanOf(params());
  const dates = { from: span.from, to: span.to, tz: timeZone };
  const [kpis, channels, languages, emotions, topics, causes] = await Promise.all([
    api(`/v1/kpis?${queryOf({ ...dates, period: span.period })}`),
    api(`/v1/kpis?${queryOf({ ...dates, group_by: "channel" })}`),
    api(`/v1/kpis?${queryOf({ ...dates, group_by: "language" })}`),
    api(`/v1/kpis?${queryOf({ ...dates, group_by: "emotion", groups: 8 })}`),
    api(`/v1/topics?${queryOf({ until: span.to })}`).catch(() => ({ topics: [] })),
    api(`/v1/root-causes?${queryOf({ from: span.from, to: span.to, sort: "nps_impact" })}`).catch(() => ({ root_causes: [] })),
  ]);
  const plot = (kpis) => h("div", { class: "chart", role: "img", "aria-label": `${kpis.map(t).join(", ")}: ${t("trend")}` });
  const [scores, shares] = [plot(["nps", "net_sentiment"]), plot(["csat", "ces_easy"])];
  const rising = [...topics.topics].sort((a, b) => b.trend.growth - a.trend.growth).slice(0, 5);
  show(h("h1", {}, t("overview")), periodForm(span, "overview"),
    h("div", { class: "cards", id: "kpis", "data-count": kpis.total.count }, KPIS.map((k) => kpiCard(kpis.total, k))),
    h("section", { class: "panel" }, h("h2", {}, t("trend")), h("div", { class: "charts" }, scores, shares)),
    h("div", { class: "grid" },
      h("section", { class: "panel", id: "by-channel" }, h("h2", {}, t("volumes_by_channel")), volumes(channels)),
      h("section", { class: "panel", id: "by-language" }, h("h2", {}, t("volumes_by_language")), volumes(languages)),
      h("section", { class: "panel" }, h("h2", {}, t("emotions")), volumes(emotions, (key) => key ?? t("neutral"))),
      h("section", { class: "panel" }, h("h2", {}, t("rising_topics")), rising.length
        ? table([t("topic"), t("verbatims"), t("trend")], rising.map((x) =>
          [h("a", { href: drillDown(span, "topic", x.id) }, x.label), number(x.size.verbatims, 0), signed(x.trend.growth)]))
        : h("p", { class: "muted" }, t("no_topics"))),
      h("section", { class: "panel" }, h("h2", {}, t("root_causes")), causes.root_causes.length
        ? table([t("root_cause"), t("verbatims"), t("impact")], causes.root_causes.slice(0, 5).map((x) =>
          [h("a", { href: drillDown(span, "root_cause", x.id) }, x.label), number(x.verbatims, 0), signed(x.nps_impact)]))
        : h("p", { class: "muted" }, t("no_root_causes")))));
  chart(kpis.total.periods, scores, ["nps", "net_sentiment"], t("points"), [-100, 100]);
  chart(kpis.total.periods, shares, ["csat", "ces_easy"], "%", [0, 100]);
}

// ---- explore -----------------------------------------------------------------------------

/** The text with the highlighted spans (in code points) wrapped in <mark>. */
function marked(text, highlights) {
  const chars = Array.from(text);
  const out = [];
  let at = 0;
  for (const { offset, length } of [...highlights].sort((a, b) => a.offset - b.offset)) {
    if (offset < at) continue;
    out.push(chars.slice(at, offset).join(""), h("mark", {}, chars.slice(offset, offset + length).join("")));
    at = offset + length;
  }
  out.push(chars.slice(at).join(""));
  return out;
}

function searchForm(query) {
  const input = (name, type = "text", extra = {}) => h("input", { type, name, value: query.get(name) || "", ...extra });
  const list = (name, values) => select(name, query.get(name) || "",
    [["", "–"], ...values.map((v) => [v, t(v)])]);
  const metadataKey = [...query.keys()].find((k) => k.startsWith("metadata."));
  const metadata = h("input", { type: "text", name: "metadata",
    value: metadataKey ? `${metadataKey.slice(9)}=${query.get(metadataKey)}` : "" });
  return h("form", { class: "controls search", role: "search", onsubmit: (event) => {
    event.preventDefault();
    const next = formQuery(event.target);
    const pair = next.get("metadata");
    next.delete("metadata");
    if (pair && pair.includes("=")) next.set(`metadata.${pair.split("=")[0].trim()}`, pair.split("=").slice(1).join("=").trim());
    go(`/ui/explore?${next}`);
  } },
  field(t("query"), input("q", "search", { id: "q" }), t("query_help")),
  field(t("from"), input("from", "date")), field(t("to"), input("to", "date")),
  field(t("channel"), input("channel")), field(t("language"), input("language")),
  field(t("sentiment"), list("sentiment", ["negative", "neutral", "positive", "mixed"])),
  field(t("nps_group"), list("nps_group", ["detractor", "passive", "promoter"])),
  field(t("nps_min"), input("nps_min", "number", { min: 0, max: 10 })),
  field(t("nps_max"), input("nps_max", "number", { min: 0, max: 10 })),
  field(t("csat_min"), input("csat_min", "number", { min: 1, max: 5 })),
  field(t("csat_max"), input("csat_max", "number", { min: 1, max: 5 })),
  field(t("ces_min"), input("ces_min", "number", { min: 1, max: 7 })),
  field(t("ces_max"), input("ces_max", "number", { min: 1, max: 7 })),
  field(t("emotion"), input("emotion")), field(t("topic"), input("topic")),
  field(t("root_cause"), input("root_cause")), field(t("metadata"), metadata),
  field(t("sort"), select("sort", query.get("sort") || "", [["", t("relevance")], ["newest", t("newest")]])),
  // Filters of a shared URL that have no control here (customer_id, aspect, category…) stay.
  [...query].filter(([name]) => !CONTROLS.includes(name) && name !== metadataKey && name !== "offset")
    .map(([name, value]) => h("input", { type: "hidden", name, value })),
  h("button", { type: "submit" }, t("search")),
  h("a", { class: "button secondary", href: "/ui/explore" }, t("clear")));
}

/** Facet counts of the current results; a value filters by it, in place of that facet's
 * filter (the API ORs the values of one filter, so adding one would widen the results). */
function facetPanel(facets, query, names) {
  const labelOf = (facet, value) => {
    if (facet === "topic" || facet === "root_cause") return names[facet].get(value) ?? value;
    return ["sentiment", "nps_group"].includes(facet) || value === "neutral" || value === "other" ? t(value) : value;
  };
  return h("aside", { class: "facets", "aria-label": t("facets") }, h("h2", {}, t("facets")),
    FACETS.filter((name) => facets[name] && Object.keys(facets[name]).length).map((name) =>
      h("section", { "data-facet": name }, h("h3", {}, t(name)), h("ul", {},
        Object.entries(facets[name]).sort((a, b) => b[1] - a[1]).slice(0, 12).map(([value, count]) => {
          const next = params(query.toString());
          const current = next.get(name) === value;
          next.set(name, value);
          next.delete("offset");
          return h("li", {}, h("a", { href: `/ui/explore?${next}`, "data-value": value, "aria-current": current ? "true" : null },
            labelOf(name, value), " ", h("span", { class: "count" }, number(count, 0))));
        })))));
}

function hit({ verbatim, highlights }) {
  const v = verbatim;
  return h("li", { class: "hit", "data-id": v.id },
    h("p", { class: "text" }, marked(v.text, highlights)),
    h("p", { class: "meta" }, date(v.created_at), " · ", v.channel, v.language ? ` · ${v.language}` : "",
      v.nps != null ? ` · NPS ${v.nps}` : "", " ", v.sentiment ? badge(v.sentiment.label) : "",
      (v.emotions || []).slice(0, 2).map((e) => h("span", { class: "emotion" }, e.label)),
      h("button", { type: "button", class: "link", "aria-label": `${t("open")} ${t("verbatim")} ${v.id}`,
        onclick: () => openVerbatim(v) }, t("open"))));
}

async function explore() {
  const query = params();
  const offset = Number(query.get("offset") || 0);
  const request = params(query.toString());
  request.set("limit", PAGE_SIZE);
  const [results, topics, causes] = await Promise.all([
    api(`/v1/search?${request}`),
    api("/v1/topics").catch(() => ({ topics: [] })),
    api("/v1/root-causes").catch(() => ({ root_causes: [] })),
  ]);
  const names = {
    topic: new Map(topics.topics.map((x) => [String(x.id), x.label])),
    root_cause: new Map(causes.root_causes.map((x) => [String(x.id), x.label])),
  };
  const more = offset + PAGE_SIZE < results.total;
  const next = params(query.toString());
  next.set("offset", offset + PAGE_SIZE);
  show(h("h1", {}, t("explore")), searchForm(query),
    h("div", { class: "explore" }, facetPanel(results.facets, query, names),
      h("section", { class: "results", "aria-label": t("results") },
        h("p", { id: "total", "data-total": results.total }, `${number(results.total, 0)} ${t("results")}`),
        h("ol", { class: "hits", start: offset + 1 }, results.hits.map(hit)),
        more ? h("a", { class: "button secondary", href: `/ui/explore?${next}` }, t("more")) : null)));
}

/** The text sentence by sentence, each marked with its sentiment in colour and in words. */
function sentences(text, analysed) {
  const chars = Array.from(text);
  return analysed.sentences.map((s) => h("span", { class: `sentence s-${s.sentiment.label}`,
    title: `${t(s.sentiment.label)} ${signed(s.sentiment.score, 2)}` }, chars.slice(s.offset, s.offset + s.length).join(""),
  h("span", { class: "visually-hidden" }, ` (${t(s.sentiment.label)})`), " "));
}

function analysisOf(analysed, text) {
  const list = (items, show) => (items.length ? h("ul", {}, items.map((x) => h("li", {}, show(x)))) : h("p", { class: "muted" }, t("none")));
  return h("div", { class: "analysis" },
    h("p", {}, t("document"), ": ", badge(analysed.sentiment.label), ` ${signed(analysed.sentiment.score, 2)}`),
    h("h3", {}, t("sentences")), h("p", { class: "sentences" }, sentences(analysed.redacted_text || text, analysed)),
    h("h3", {}, t("emotions")), list(analysed.emotions, (e) => `${e.label} ${number(e.score, 2)}`),
    h("h3", {}, t("aspects")), list(analysed.aspects, (a) => [a.text, " ", badge(a.polarity), a.opinion ? ` (${a.opinion.text})` : ""]),
    h("h3", {}, t("causes")), list(analysed.causes, (c) => c.text),
    h("h3", {}, t("key_phrases")), list(analysed.key_phrases, (k) => k.text));
}

async function openVerbatim(v) {
  const body = h("div", {}, h("p", { class: "muted" }, t("loading")));
  const dialog = h("dialog", { class: "verbatim", "aria-labelledby": "verbatim-title" },
    h("h2", { id: "verbatim-title" }, `${t("verbatim")} ${v.id}`),
    h("p", { class: "meta" }, date(v.created_at), " · ", v.channel, v.customer_id ? ` · ${t("customer")} ${v.customer_id}` : "",
      v.nps != null ? ` · NPS ${v.nps}` : "", v.csat != null ? ` · CSAT ${v.csat}` : "", v.ces != null ? ` · CES ${v.ces}` : ""),
    Object.keys(v.metadata || {}).length ? h("p", { class: "meta" }, Object.entries(v.metadata).map(([k, x]) => `${k}: ${x}`).join(" · ")) : null,
    body, h("form", { method: "dialog" }, h("button", { type: "submit" }, t("close"))));
  dialog.addEventListener("close", () => dialog.remove());
  document.body.append(dialog);
  dialog.showModal();
  // Its stored analysis, and when the key may analyse, each sentence's (not stored).
  const stored = [h("p", { class: "text" }, v.text),
    v.sentiment ? h("p", {}, t("document"), ": ", badge(v.sentiment.label), ` ${signed(v.sentiment.score, 2)}`) : null,
    (v.emotions || []).length ? h("p", {}, t("emotions"), ": ", v.emotions.map((e) => e.label).join(", ")) : null];
  try {
    // A language detected as neither French nor English is not one the API takes back.
    const language = ["fr", "en"].includes(v.language) ? v.language : undefined;
    const analysed = await api("/v1/analyze", { method: "POST",
      body: JSON.stringify({ documents: [{ id: v.id, text: v.text, language }], model: "fast" }) });
    const found = analysed.documents[0];
    body.replaceChildren(found ? analysisOf(found, v.text) : h("div", {}, stored, failure(analysed.errors?.[0] ?? {})));
  } catch (error) {
    body.replaceChildren(h("div", {}, stored, h("p", { class: "muted" }, error.status === 403 ? t("no_analysis") : failure(error).textContent)));
  }
}

// ---- themes ------------------------------------------------------------------------------

function mix(size) {
  const total = size.verbatims || 1;
  const bar = h("span", { class: "mix", role: "img",
    "aria-label": ["negative", "neutral", "mixed", "positive"].map((k) => `${t(k)} ${Math.round((100 * size[k]) / total)} %`).join(", ") });
  for (const k of ["negative", "neutral", "mixed", "positive"]) {
    const part = h("span", { class: `s-${k}` });
    part.style.flexGrow = String(size[k]); // through the CSSOM, which the page's policy allows
    bar.append(part);
  }
  return bar;
}

async function themes() {
  const span = spanOf(params());
  const dates = { from: span.from, to: span.to, tz: timeZone };
  const [topics, byTopic, causes] = await Promise.all([
    api(`/v1/topics?${queryOf({ until: span.to })}`),
    api(`/v1/kpis?${queryOf({ ...dates, group_by: "topic", groups: 1000 })}`),
    api(`/v1/root-causes?${queryOf({ from: span.from, to: span.to, sort: "nps_impact" })}`),
  ]);
  const overall = byTopic.total;
  const npsOf = new Map(byTopic.groups.map((g) => [g.key, g]));
  // As the API's for root causes: the overall NPS less the NPS of the answers outside the
  // topic (negative: the topic costs NPS). NPS is linear in its answers, so the NPS outside
  // is (overall × all answers − topic's × its answers) / the answers outside.
  const impact = (topic) => {
    const g = npsOf.get(String(topic.id));
    const outside = overall.nps_count - (g?.nps_count ?? 0);
    if (!g || g.nps == null || overall.nps == null || outside <= 0) return null;
    return overall.nps - (overall.nps * overall.nps_count - g.nps * g.nps_count) / outside;
  };
  const ranked = [...topics.topics].sort((a, b) => (impact(a) ?? 0) - (impact(b) ?? 0));
  show(h("h1", {}, t("themes")), periodForm(span, "themes"),
    h("section", { class: "panel", id: "topics" }, h("h2", {}, t("topics")), ranked.length
      ? table([t("topic"), t("verbatims"), t("sentiment"), t("nps"), t("impact"), t("trend")], ranked.map((x) => [
        h("a", { href: drillDown(span, "topic", x.id) }, x.label), h("a", { href: drillDown(span, "topic", x.id) }, number(x.size.verbatims, 0)),
        mix(x.size), number(npsOf.get(String(x.id))?.nps), signed(impact(x)), signed(x.trend.growth)]))
      : h("p", { class: "muted" }, t("no_topics"))),
    h("section", { class: "panel", id: "root-causes" }, h("h2", {}, t("root_causes")), causes.root_causes.length
      ? table([t("root_cause"), t("verbatims"), t("share_negative"), t("lift"), t("impact")], causes.root_causes.map((x) => [
        h("a", { href: drillDown(span, "root_cause", x.id) }, x.label),
        h("a", { href: drillDown(span, "root_cause", x.id) }, number(x.verbatims, 0)),
        `${number(100 * x.share_of_negative)} %`, number(x.lift, 2), signed(x.nps_impact)]))
      : h("p", { class: "muted" }, t("no_root_causes"))));
}

// ---- compare -----------------------------------------------------------------------------

async function compare() {
  const url = params();
  const a = url.get("a") || "";
  const b = url.get("b") || "";
  const input = (name, value) => h("input", { type: "text", name, value, placeholder: "metadata.store=Lyon" });
  const form = h("form", { class: "controls", onsubmit: (event) => {
    event.preventDefault();
    go(`/ui/compare?${formQuery(event.target)}`);
  } }, field(t("segment_a"), input("a", a), t("segment_help")), field(t("segment_b"), input("b", b), t("segment_help")),
  h("button", { type: "submit" }, t("apply")));
  if (!a && !b) return show(h("h1", {}, t("compare")), form);
  const segment = (raw) => {
    const filters = params(raw);
    if (!filters.has("tz")) filters.set("tz", timeZone);
    return api(`/v1/kpis?${filters}`);
  };
  const [left, right] = await Promise.all([segment(a), segment(b)]);
  // Each value with its 95 % interval: intervals apart say the segments differ.
  const cell = (total, name, digits) => {
    const ci = total[`${name}_ci`];
    return [number(total[name], digits), ci ? h("small", { class: "muted" }, ` [${number(ci[0], digits)}; ${number(ci[1], digits)}]`) : null];
  };
  const rows = [["verbatims", "count", 0], ...KPIS.map(([name, digits]) => [name, name, digits])].map(([label, name, digits]) => [
    t(label), cell(left.total, name, digits), cell(right.total, name, digits),
    left.total[name] == null || right.total[name] == null ? "–" : signed(right.total[name] - left.total[name], digits)]);
  show(h("h1", {}, t("compare")), form,
    h("section", { class: "panel", id: "comparison" }, table(["", a || "–", b || "–", t("difference")], rows)));
}

// ---- follow-ups --------------------------------------------------------------------------

async function followUps() {
  // The queue to act on by default: those not contacted yet; `status=` (empty) is all of them,
  // so it is read from the raw URL, where params() would drop it.
  const wanted = new URLSearchParams(location.search).get("status") ?? "open,in_progress";
  const listed = await api(`/v1/follow-ups?${queryOf({ limit: 1000, status: wanted })}`);
  const filter = h("form", { class: "controls", onsubmit: (event) => {
    event.preventDefault();
    go(`/ui/follow-ups?${new URLSearchParams(new FormData(event.target))}`);
  } }, field(t("status"), select("status", wanted, [["open,in_progress", t("to_act_on")], ["", t("all")]])),
  h("button", { type: "submit" }, t("apply")));
  const items = [...listed.follow_ups].sort((x, y) => Number(y.overdue) - Number(x.overdue) || x.due_at.localeCompare(y.due_at));
  const statuses = [["open", t("open_status")], ["in_progress", t("in_progress")], ["contacted", t("contacted")], ["resolved", t("resolved")]];
  const row = (f) => {
    const status = select("status", f.status, statuses);
    status.setAttribute("aria-label", `${t("status")} ${f.id}`);
    const note = h("input", { type: "text", name: "note", value: f.note || "", "aria-label": `${t("note")} ${f.id}` });
    const saved = h("span", { class: "muted", role: "status" });
    const save = h("button", { type: "button", onclick: async () => {
      try {
        await api(`/v1/follow-ups/${f.id}`, { method: "PATCH", body: JSON.stringify({ status: status.value, note: note.value || null }) });
        saved.textContent = t("saved");
      } catch (error) { saved.textContent = failure(error).textContent; }
    } }, t("save"));
    return h("tr", { "data-id": f.id, class: f.overdue ? "overdue" : null },
      h("th", { scope: "row" }, f.overdue ? h("strong", {}, t("overdue")) : "", " ", date(f.due_at)),
      h("td", {}, h("button", { type: "button", class: "link", "aria-label": `${t("open")} ${t("verbatim")} ${f.verbatim_id}`,
        onclick: () => api(`/v1/verbatims/${encodeURIComponent(f.verbatim_id)}`).then(openVerbatim)
          .catch((error) => show(failure(error))) }, f.verbatim_id)),
      h("td", {}, f.customer_id || "–"), h("td", {}, f.owner || "–"), h("td", {}, status), h("td", {}, note, " ", save, " ", saved));
  };
  show(h("h1", {}, t("follow_ups")), filter, items.length
    ? h("table", { id: "follow-ups" }, h("thead", {}, h("tr", {}, [t("due"), t("verbatim"), t("customer"), t("owner"), t("status"), t("note")]
      .map((x) => h("th", { scope: "col" }, x)))), h("tbody", {}, items.map(row)))
    : h("p", { class: "muted" }, t("nothing")));
}

// ---- analyse -----------------------------------------------------------------------------

async function analyse() {
  const texts = h("textarea", { name: "texts", rows: 6 });
  const file = h("input", { type: "file", name: "file", accept: ".txt,.csv,text/plain,text/csv" });
  const model = select("model", "fast", [["fast", t("fast")], ["accurate", t("accurate")]]);
  const output = h("div", { id: "analysis", "aria-live": "polite" });
  file.addEventListener("change", async () => {
    if (file.files[0]) texts.value = (await file.files[0].text()).split(/\r?\n/).filter((l) => l.trim()).slice(0, 100).join("\n");
  });
  const form = h("form", { class: "panel", onsubmit: async (event) => {
    event.preventDefault();
    const lines = texts.value.split(/\r?\n/).map((l) => l.trim()).filter(Boolean).slice(0, 100);
    if (!lines.length) return;
    output.replaceChildren(h("p", { class: "muted" }, t("loading")));
    try {
      const analysed = await api("/v1/analyze", { method: "POST",
        body: JSON.stringify({ documents: lines.map((text, i) => ({ id: String(i + 1), text })), model: model.value }) });
      output.replaceChildren(...analysed.documents.map((d) => h("article", { class: "panel" },
        h("h2", {}, `${t("document")} ${d.id} · ${d.language}`), analysisOf(d, lines[Number(d.id) - 1]))),
      ...(analysed.errors || []).map((e) => h("p", { class: "error", role: "alert" }, `${t("document")} ${e.id ?? e.index + 1}: ${e.message ?? e.detail ?? e.code}`)));
    } catch (error) { output.replaceChildren(failure(error)); }
  } }, h("p", {}, t("analyse_help")), field(t("texts"), texts), field(t("file"), file), field(t("model"), model),
  h("button", { type: "submit" }, t("run")));
  show(h("h1", {}, t("analyse")), form, output);
}

// ---- start -------------------------------------------------------------------------------

document.addEventListener("DOMContentLoaded", () => {
  const chooser = document.getElementById("ui-language");
  chooser.value = language;
  chooser.addEventListener("change", () => {
    language = chooser.value;
    localStorage.setItem(LANG, language);
    translateShell();
    route();
  });
  document.getElementById("logout").addEventListener("click", () => {
    sessionStorage.removeItem(KEY);
    go("/ui/login");
  });
  translateShell();
  route();
});
