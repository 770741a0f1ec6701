// Bündel dashboard: read only, reads the same /v1/ routes any client reads.
// Views (by the URL's hash): #/pipeline, #/budget, #/times, #/exceptions, #/proposals,
// #/proposal/<id>. Money arrives as integer cents and is formatted with integer arithmetic only.
"use strict";

const TEXT = {
  de: {
    skip: "Zum Inhalt springen", views: "Ansichten", loading: "Wird geladen …",
    footer: "Nur lesend; alle Zahlen aus der API",
    nav_pipeline: "Pipeline", nav_budget: "Budget", nav_times: "Entscheidungsdauer",
    nav_exceptions: "Ausnahmen", nav_proposals: "Projekte",
    switch_to: "Switch to English", other_lang: "EN",
    pipeline_title: "Pipeline je Bündnis", alliance: "Bündnis",
    st_submitted: "Eingereicht", st_screened: "Vorgeprüft", st_in_review: "In Beratung",
    st_statement: "Votum positiv", st_granted: "Bewilligt", st_paid: "Ausgezahlt", st_closed: "Abgeschlossen",
    dropoffs: "Ausgeschieden", d_screened_out: "Vorprüfung nicht bestanden", d_negative: "Votum negativ",
    d_waitlisted: "Warteliste", d_refused: "Abgelehnt", d_withdrawn: "Zurückgezogen",
    budget_title: "Budget-Verlauf je Fonds und Quelle", fund: "Fonds", source: "Quelle",
    src_total: "Gesamt", src_esf_plus: "ESF+", src_land: "Land",
    f_allocated: "Zugewiesen", f_reserved: "Reserviert", f_committed: "Bewilligt",
    f_disbursed: "Ausgezahlt", f_recovered: "Zurückgefordert", f_available: "Verfügbar",
    commit_deadline: "Bewilligungsschluss", eligible_until: "Förderfähig bis",
    forecast: "Prognose (lineare Fortschreibung)", runs_out: "Mittel erschöpft am",
    left_at_deadline: "Rest zum Bewilligungsschluss", bound_per_day: "Gebunden je Tag",
    no_forecast: "Keine Prognose (noch kein Budget oder weniger als ein Tag Verlauf)", latest: "Aktueller Stand",
    figure: "Kennzahl", amount: "Betrag", value_date: "Wertstellung",
    chart_label: "Verlauf der Kennzahlen von {from} bis {to}",
    times_title: "Dauer bis zur Entscheidung (Tage)", month: "Monat (Einreichung)",
    submitted_n: "Eingereicht", to_statement: "Bis zum Votum", to_grant: "Bis zur Bewilligung",
    median: "Median", p90: "90. Perzentil", count: "Anzahl",
    exceptions_title: "Ausnahmen", claims_due: "Mittelabrufe fällig in 14 Tagen oder überfällig",
    claim: "Mittelabruf", project: "Projekt", due_date: "Fällig am", days_left: "Resttage",
    overdue: "überfällig", status: "Status", none: "Keine.",
    recoveries: "Offene Rückforderungen", outstanding: "Offen", recovered: "Festgesetzt", repaid: "Zurückgezahlt",
    deadletters: "Zurückgewiesene Nachrichten (letzte 7 Tage)", code: "Code", reasons: "Gründe", when: "Zeitpunkt",
    quarantine: "Zurückgestellte Ereignisse", audit: "Prüfung der Projektionen",
    logs: "Transparenz-Logs", log: "Log", size: "Größe", age: "Alter des letzten Checkpoints",
    witnessed_age: "Alter des letzten bezeugten Checkpoints", not_witnessed: "noch nie bezeugt",
    proposals_title: "Projekte", title: "Titel", applicant: "Antragsteller", cost: "Förderfähige Kosten",
    all_statuses: "Alle Status", filter_status: "Status filtern",
    proposal_title: "Projekt", timeline: "Verlauf", review: "Beratung", roster: "Stimmberechtigte",
    recusals: "Befangenheit", votes: "Stimmen", vote: "Stimme", partner: "Partner", tally: "Ergebnis",
    statement: "Votum", conditions: "Auflagen", money: "Mittel", requested: "Beantragt",
    claims: "Mittelabrufe", event: "Ereignis", time: "Zeit", actor: "Akteur", proof: "Nachweis",
    ledger_entry: "Buchung", back: "Zurück zur Liste", not_found: "Nicht gefunden.",
    yes: "Ja", no: "Nein", abstain: "Enthaltung", recused: "befangen", eligible: "stimmberechtigt",
    error: "Die API antwortete nicht wie erwartet", days: "Tage", seconds: "s",
    esf: "ESF+", land: "Land", total: "Gesamt", unpaid: "Nicht ausgezahlt", receivable: "Forderung",
    downloads: "Herunterladen", journal: "Journal", annual_report: "Jahresbericht",
    audit_none: "Noch keine Prüfung aufgezeichnet (buendel audit verify --record).",
    audit_at: "Letzte Prüfung", audit_ok: "alles stimmt", audit_failed: "fehlgeschlagen bei",
    what: "Was", item: "Eintrag", ledger_says: "Journal", projection_says: "Projektion", events_n: "Ereignisse",
    s_submitted: "eingereicht", s_screening_failed: "Vorprüfung nicht bestanden", s_in_review: "in Beratung",
    s_statement_positive: "Votum positiv", s_statement_negative: "Votum negativ", s_waitlisted: "Warteliste",
    s_funds_reserved: "Mittel reserviert", s_granted: "bewilligt", s_closed: "abgeschlossen",
    s_refused: "abgelehnt", s_withdrawn: "zurückgezogen",
    c_submitted: "eingereicht", c_returned: "zurückgegeben", c_resubmitted: "erneut eingereicht",
    c_verified: "geprüft", c_paid: "ausgezahlt", v_positive: "positiv", v_negative: "negativ",
  },
  en: {
    skip: "Skip to content", views: "Views", loading: "Loading …",
    footer: "Read only; every figure from the API",
    nav_pipeline: "Pipeline", nav_budget: "Budget", nav_times: "Time to decision",
    nav_exceptions: "Exceptions", nav_proposals: "Proposals",
    switch_to: "Auf Deutsch umschalten", other_lang: "DE",
    pipeline_title: "Pipeline per alliance", alliance: "Alliance",
    st_submitted: "Submitted", st_screened: "Screened", st_in_review: "In review",
    st_statement: "Positive statement", st_granted: "Granted", st_paid: "Paid", st_closed: "Closed",
    dropoffs: "Dropped off", d_screened_out: "Screened out", d_negative: "Negative statement",
    d_waitlisted: "Waitlisted", d_refused: "Refused", d_withdrawn: "Withdrawn",
    budget_title: "Budget burn-down per fund and source", fund: "Fund", source: "Source",
    src_total: "Total", src_esf_plus: "ESF+", src_land: "Land",
    f_allocated: "Allocated", f_reserved: "Reserved", f_committed: "Committed",
    f_disbursed: "Disbursed", f_recovered: "Recovered", f_available: "Available",
    commit_deadline: "Commitment deadline", eligible_until: "Eligible until",
    forecast: "Forecast (straight line)", runs_out: "Money runs out on",
    left_at_deadline: "Left at the commitment deadline", bound_per_day: "Bound per day",
    no_forecast: "No forecast (no budget yet, or less than a day of history)", latest: "Latest figures",
    figure: "Figure", amount: "Amount", value_date: "Value date",
    chart_label: "The figures from {from} to {to}",
    times_title: "Time to decision (days)", month: "Month (submission)",
    submitted_n: "Submitted", to_statement: "To statement", to_grant: "To grant",
    median: "Median", p90: "90th percentile", count: "Count",
    exceptions_title: "Exceptions", claims_due: "Payment claims due within 14 days or overdue",
    claim: "Claim", project: "Project", due_date: "Due on", days_left: "Days left",
    overdue: "overdue", status: "Status", none: "None.",
    recoveries: "Open recoveries", outstanding: "Outstanding", recovered: "Assessed", repaid: "Repaid",
    deadletters: "Dead letters (last 7 days)", code: "Code", reasons: "Reasons", when: "When",
    quarantine: "Quarantined events", audit: "Audit of the projections",
    logs: "Transparency logs", log: "Log", size: "Size", age: "Age of the latest checkpoint",
    witnessed_age: "Age of the latest witnessed checkpoint", not_witnessed: "never witnessed",
    proposals_title: "Proposals", title: "Title", applicant: "Applicant", cost: "Eligible costs",
    all_statuses: "All statuses", filter_status: "Filter by status",
    proposal_title: "Proposal", timeline: "Timeline", review: "Review", roster: "Roster",
    recusals: "Recusals", votes: "Votes", vote: "Vote", partner: "Partner", tally: "Tally",
    statement: "Statement", conditions: "Conditions", money: "Money", requested: "Requested",
    claims: "Payment claims", event: "Event", time: "Time", actor: "Actor", proof: "Proof",
    ledger_entry: "Ledger entry", back: "Back to the list", not_found: "Not found.",
    yes: "Yes", no: "No", abstain: "Abstain", recused: "recused", eligible: "eligible",
    error: "The API did not answer as expected", days: "days", seconds: "s",
    esf: "ESF+", land: "Land", total: "Total", unpaid: "Unpaid", receivable: "Receivable",
    downloads: "Download", journal: "Journal", annual_report: "Annual report",
    audit_none: "No audit recorded yet (buendel audit verify --record).",
    audit_at: "Latest audit", audit_ok: "everything holds", audit_failed: "failed at",
    what: "What", item: "Item", ledger_says: "Ledger", projection_says: "Projection", events_n: "events",
    s_submitted: "submitted", s_screening_failed: "screened out", s_in_review: "in review",
    s_statement_positive: "positive statement", s_statement_negative: "negative statement", s_waitlisted: "waitlisted",
    s_funds_reserved: "funds reserved", s_granted: "granted", s_closed: "closed",
    s_refused: "refused", s_withdrawn: "withdrawn",
    c_submitted: "submitted", c_returned: "returned", c_resubmitted: "resubmitted",
    c_verified: "verified", c_paid: "paid", v_positive: "positive", v_negative: "negative",
  },
};

const STAGES = ["submitted", "screened", "in_review", "statement", "granted", "paid", "closed"];
const DROPS = ["screened_out", "negative", "waitlisted", "refused", "withdrawn"];
const FIGURES = ["allocated", "reserved", "committed", "disbursed", "recovered", "available"];
const STATUSES = ["submitted", "screening_failed", "in_review", "statement_positive",
  "statement_negative", "waitlisted", "funds_reserved", "granted", "closed", "refused", "withdrawn"];

let lang = initialLanguage();

function initialLanguage() {
  const asked = new URLSearchParams(location.search).get("lang");
  if (asked === "de" || asked === "en") return asked;
  try {
    const kept = localStorage.getItem("buendel.lang");
    if (kept === "de" || kept === "en") return kept;
  } catch (_) { /* storage may be off */ }
  return "de";
}

function t(key, vars) {
  let text = (TEXT[lang] && TEXT[lang][key]) || TEXT.en[key] || key;
  for (const [name, value] of Object.entries(vars || {})) text = text.replace("{" + name + "}", value);
  return text;
}

// --- Formatting: integers only ------------------------------------------------------------

function group(digits, sep) {
  let out = "";
  for (let i = 0; i < digits.length; i++) {
    if (i > 0 && (digits.length - i) % 3 === 0) out += sep;
    out += digits[i];
  }
  return out;
}

/** Cents as euros: de "1.234.567,89 €", en "€1,234,567.89". Exact for any safe integer. */
function money(cents) {
  if (cents === null || cents === undefined) return "–";
  const big = BigInt(cents);
  const negative = big < 0n;
  const abs = negative ? -big : big;
  const euros = (abs / 100n).toString();
  const rest = (abs % 100n).toString().padStart(2, "0");
  const sign = negative ? "−" : "";
  if (lang === "de") return sign + group(euros, ".") + "," + rest + "\u00a0€";
  return sign + "€" + group(euros, ",") + "." + rest;
}

function num(n) {
  if (n === null || n === undefined) return "–";
  const negative = n < 0;
  const digits = String(Math.abs(Math.trunc(n)));
  return (negative ? "−" : "") + group(digits, lang === "de" ? "." : ",");
}

function date(iso) {
  if (!iso) return "–";
  const [y, m, d] = iso.slice(0, 10).split("-");
  return lang === "de" ? `${d}.${m}.${y}` : `${y}-${m}-${d}`;
}

function time(iso) {
  if (!iso) return "–";
  return date(iso) + " " + iso.slice(11, 19);
}

function duration(seconds) {
  if (seconds === null || seconds === undefined) return "–";
  const s = Math.max(0, Math.trunc(seconds));
  if (s < 120) return num(s) + " s";
  if (s < 7200) return num(Math.floor(s / 60)) + " min";
  if (s < 172800) return num(Math.floor(s / 3600)) + " h";
  return num(Math.floor(s / 86400)) + " " + t("days");
}

// --- DOM helpers ----------------------------------------------------------------------------

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key === "text") node.textContent = value;
    else if (key === "class") node.className = value;
    else node.setAttribute(key, value === true ? "" : String(value));
  }
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

const SVG = "http://www.w3.org/2000/svg";
function svg(tag, attrs, ...children) {
  const node = document.createElementNS(SVG, tag);
  for (const [key, value] of Object.entries(attrs || {})) node.setAttribute(key, String(value));
  for (const child of children.flat(Infinity)) if (child) node.append(child);
  return node;
}

function table(caption, headers, rows, id) {
  const head = el("tr", {}, headers.map((h) => el("th", { scope: "col", class: h.num ? "num" : null, text: h.label || h })));
  const body = rows.map((cells) => el("tr", {}, cells.map((c) => (c instanceof Node && c.tagName === "TD") ? c : el("td", {}, c))));
  return el("div", { class: "scroll" },
    el("table", { id }, el("caption", { class: "muted", text: caption }), el("thead", {}, head), el("tbody", {}, body)));
}

function numCell(text, attrs) {
  return el("td", Object.assign({ class: "num" }, attrs || {}), text);
}

async function api(path) {
  const response = await fetch(path, { headers: { accept: "application/json" } });
  if (!response.ok) {
    const error = new Error(`${path}: ${response.status}`);
    error.status = response.status;
    throw error;
  }
  return response.json();
}

/** Every item of a paged list, up to `max`. */
async function all(path, max) {
  const items = [];
  let cursor = null;
  do {
    const sep = path.includes("?") ? "&" : "?";
    const page = await api(path + sep + "limit=100" + (cursor ? "&cursor=" + encodeURIComponent(cursor) : ""));
    items.push(...page.items);
    cursor = page.next_cursor;
  } while (cursor && items.length < max);
  return items;
}

// --- Views ----------------------------------------------------------------------------------

async function viewPipeline() {
  const data = await api("/v1/pipeline");
  const cards = data.items.map((a) => {
    const top = Math.max(1, a.stages.submitted);
    const stages = STAGES.map((stage) => {
      const count = a.stages[stage];
      const fill = el("span", {});
      fill.style.width = (100 * count / top).toFixed(1) + "%";
      const id = `stage-${a.alliance_id}-${stage}`;
      return el("li", {},
        el("span", { id: id + "-label", text: t("st_" + stage) }),
        el("div", { class: "bar", role: "img", "aria-labelledby": id + "-label " + id }, fill),
        el("span", { class: "count", id, "data-count": count, text: num(count) }));
    });
    const drops = DROPS.map((drop) => el("li", {},
      t("d_" + drop) + ": ",
      el("strong", { id: `drop-${a.alliance_id}-${drop}`, "data-count": a.drop_offs[drop], text: num(a.drop_offs[drop]) })));
    return el("section", { class: "card", "aria-labelledby": "h-" + a.alliance_id },
      el("h3", { id: "h-" + a.alliance_id, text: `${t("alliance")} ${a.alliance_id}` }),
      el("ol", { class: "funnel" }, stages),
      el("h4", { text: t("dropoffs") }),
      el("ul", { class: "drops" }, drops));
  });
  return [el("h2", { text: t("pipeline_title") }),
    cards.length ? el("div", { class: "cards" }, cards) : el("p", { text: t("none") })];
}

const budgetChoice = { fund: null, source: "total" };

function chart(history, source) {
  const points = history.points;
  const W = 760, H = 300, L = 92, R = 16, T = 12, B = 34;
  if (points.length === 0) return el("p", { text: t("none") });
  const day = (iso) => Date.UTC(+iso.slice(0, 4), +iso.slice(5, 7) - 1, +iso.slice(8, 10)) / 86400000;
  const marks = [history.commit_deadline, history.eligible_until,
    history.forecast && history.forecast.runs_out_on].filter(Boolean);
  const x0 = day(points[0].value_date);
  // The last figures hold until today (as_of), when nothing was booked since.
  const until = Math.max(day(points[points.length - 1].value_date), day(history.as_of));
  let x1 = Math.max(until, ...marks.map(day));
  if (x1 <= x0) x1 = x0 + 1;
  let top = 1;
  for (const p of points) for (const f of FIGURES) top = Math.max(top, p[source][f]);
  const x = (d) => L + (W - L - R) * (d - x0) / (x1 - x0);
  const y = (cents) => T + (H - T - B) * (1 - cents / top);
  const parts = [];
  for (let i = 0; i <= 4; i++) {
    const value = Math.round(top * i / 4);
    parts.push(svg("line", { x1: L, x2: W - R, y1: y(value), y2: y(value), stroke: "#c9d1da" }));
    const label = svg("text", { x: L - 6, y: y(value) + 4, "text-anchor": "end", "font-size": 11, fill: "#4a5360" });
    label.textContent = money(value).replace(/[,.]\d\d(\s?€)?$/, "$1");
    parts.push(label);
  }
  const colours = { allocated: "#4a5360", reserved: "#8a5a00", committed: "#0b5cad",
    disbursed: "#146c2e", recovered: "#a3161a", available: "#6b3fa0" };
  for (const f of FIGURES) {
    let d = "";
    points.forEach((p, i) => {
      const px = x(day(p.value_date)).toFixed(1), py = y(p[source][f]).toFixed(1);
      if (i === 0) d += `M${px},${py}`;
      else d += `H${px}V${py}`;
      if (points.length <= 40) parts.push(svg("circle", { cx: px, cy: py, r: 3, fill: colours[f] }));
    });
    d += `H${x(until).toFixed(1)}`;
    parts.push(svg("path", { d, fill: "none", stroke: colours[f], "stroke-width": 2, "data-figure": f }));
  }
  const last = points[points.length - 1];
  const forecast = history.forecast;
  if (forecast && source === "total") {
    const end = forecast.runs_out_on || history.commit_deadline;
    const endValue = forecast.runs_out_on ? 0 : forecast.left_at_deadline_cents;
    if (end && endValue !== null && endValue !== undefined) {
      parts.push(svg("line", { x1: x(until), y1: y(last.total.available), x2: x(day(end)), y2: y(endValue),
        stroke: colours.available, "stroke-width": 2, "stroke-dasharray": "6 4" }));
    }
  }
  for (const [iso, key, row] of [[history.commit_deadline, "commit_deadline", 1], [history.eligible_until, "eligible_until", 2]]) {
    if (!iso) continue;
    parts.push(svg("line", { x1: x(day(iso)), x2: x(day(iso)), y1: T, y2: H - B, stroke: "#1b1f24", "stroke-dasharray": "2 3" }));
    const label = svg("text", { x: x(day(iso)) - 4, y: T + 14 * row + 12, "text-anchor": "end", "font-size": 11, fill: "#1b1f24",
      stroke: "#fff", "stroke-width": 3, "paint-order": "stroke" });
    label.textContent = `${t(key)} ${date(iso)}`;
    parts.push(label);
  }
  for (const [iso, anchor] of [[points[0].value_date, "start"], [new Date(x1 * 86400000).toISOString().slice(0, 10), "end"]]) {
    const label = svg("text", { x: x(day(iso)), y: H - 12, "text-anchor": anchor, "font-size": 11, fill: "#4a5360" });
    label.textContent = date(iso);
    parts.push(label);
  }
  const title = svg("title", {});
  title.textContent = t("chart_label", { from: date(points[0].value_date), to: date(last.value_date) });
  return el("div", { class: "chart" },
    svg("svg", { viewBox: `0 0 ${W} ${H}`, role: "img", "aria-label": title.textContent }, title, parts),
    el("ul", { class: "legend" }, FIGURES.map((f) => el("li", {}, el("i", { class: "k-" + f }), t("f_" + f)))));
}

/** Links to the files an office opens: each export as XLSX and CSV (or the report as a page), in
 * the page's language. */
function downloads(items) {
  const links = items.map(([label, path, formats]) => el("li", {}, label + ": ",
    (formats || ["xlsx", "csv"]).map((format, i) => {
      const sep = path.includes("?") ? "&" : "?";
      const href = `${path}${sep}${format === "html" ? "" : "format=" + format + "&"}lang=${lang}`;
      return [i ? " · " : "", el("a", { href, "data-export": format, text: format.toUpperCase() })];
    })));
  return el("nav", { class: "downloads", "aria-label": t("downloads") }, el("ul", {}, links));
}

async function viewBudget() {
  const funds = await all("/v1/funds", 1000);
  if (funds.length === 0) return [el("h2", { text: t("budget_title") }), el("p", { text: t("none") })];
  if (!funds.some((f) => f.fund_id === budgetChoice.fund)) {
    // The newest funding period with money comes first; without money anywhere, the first fund.
    const newest = funds.filter((f) => f.total.allocated > 0)
      .sort((a, b) => b.fund_id.slice(-4).localeCompare(a.fund_id.slice(-4)));
    budgetChoice.fund = (newest[0] || funds[0]).fund_id;
  }
  const history = await api(`/v1/funds/${encodeURIComponent(budgetChoice.fund)}/history`);
  const source = budgetChoice.source;
  const fundSelect = el("select", { id: "fund-select" },
    funds.map((f) => el("option", { value: f.fund_id, selected: f.fund_id === budgetChoice.fund, text: f.fund_id })));
  const sourceSelect = el("select", { id: "source-select" },
    ["total", "esf_plus", "land"].map((s) => el("option", { value: s, selected: s === source, text: t("src_" + s) })));
  fundSelect.addEventListener("change", () => { budgetChoice.fund = fundSelect.value; render(); });
  sourceSelect.addEventListener("change", () => { budgetChoice.source = sourceSelect.value; render(); });
  const last = history.points.length ? history.points[history.points.length - 1] : null;
  const latest = last ? table(`${t("latest")} · ${t("value_date")} ${date(last.value_date)}`,
    [t("figure"), { label: t("amount"), num: true }],
    FIGURES.map((f) => [t("f_" + f), numCell(money(last[source][f]), {
      id: `latest-${history.fund_id}-${source}-${f}`, "data-cents": last[source][f] })]), "latest") : null;
  const forecast = history.forecast;
  let forecastFacts = el("p", { text: t("no_forecast") });
  if (forecast) {
    forecastFacts = el("dl", { class: "facts", id: "forecast" },
      el("dt", { text: t("bound_per_day") }), el("dd", { text: money(forecast.bound_per_day_cents) }),
      forecast.runs_out_on ? [el("dt", { text: t("runs_out") }), el("dd", { class: "warn", text: date(forecast.runs_out_on) })] : null,
      forecast.left_at_deadline_cents !== null ? [el("dt", { text: t("left_at_deadline") }), el("dd", { text: money(forecast.left_at_deadline_cents) })] : null);
  }
  return [
    el("h2", { text: t("budget_title") }),
    el("p", {}, el("label", { for: "fund-select", text: t("fund") }), fundSelect, " ",
      el("label", { for: "source-select", text: t("source") }), sourceSelect),
    downloads([[`${t("journal")} ${history.fund_id}`, `/v1/funds/${encodeURIComponent(history.fund_id)}/entries`],
      [`${t("annual_report")} ${history.as_of.slice(0, 4)}`, `/v1/report?year=${history.as_of.slice(0, 4)}&alliance=${encodeURIComponent(history.alliance_id)}`, ["html"]]]),
    el("section", { class: "card" },
      chart(history, source),
      el("dl", { class: "facts" },
        el("dt", { text: t("commit_deadline") }), el("dd", { text: date(history.commit_deadline) }),
        el("dt", { text: t("eligible_until") }), el("dd", { text: date(history.eligible_until) })),
      el("h3", { text: t("forecast") }), forecastFacts),
    latest,
  ];
}

async function viewTimes() {
  const data = await api("/v1/decision-times");
  const rows = data.items.map((m) => [m.month, numCell(num(m.submitted)),
    numCell(num(m.to_statement.count)), numCell(num(m.to_statement.median_days)), numCell(num(m.to_statement.p90_days)),
    numCell(num(m.to_grant.count)), numCell(num(m.to_grant.median_days)), numCell(num(m.to_grant.p90_days))]);
  return [el("h2", { text: t("times_title") }),
    table(t("times_title"), [t("month"), { label: t("submitted_n"), num: true },
      { label: `${t("to_statement")}: ${t("count")}`, num: true }, { label: `${t("to_statement")}: ${t("median")}`, num: true },
      { label: `${t("to_statement")}: ${t("p90")}`, num: true }, { label: `${t("to_grant")}: ${t("count")}`, num: true },
      { label: `${t("to_grant")}: ${t("median")}`, num: true }, { label: `${t("to_grant")}: ${t("p90")}`, num: true }],
    rows, "decision-times")];
}

async function viewExceptions() {
  const [claims, letters, quarantine, exceptions] = await Promise.all([
    all("/v1/claims?due_within_days=14", 500), all("/v1/deadletters", 500),
    all("/v1/quarantine", 500), api("/v1/exceptions")]);
  const since = Date.parse(exceptions.now) - 7 * 86400000;
  const recent = letters.filter((l) => Date.parse(l.rejected_at) >= since);
  const projectLink = (id) => el("a", { href: "#/proposal/" + id, text: id.slice(0, 8) });
  const section = (title, id, content, count) => el("section", { class: "card", "aria-labelledby": id },
    el("h3", { id }, title, " ", el("span", { class: count ? "bad" : "ok", "data-count": count, id: id + "-count", text: `(${num(count)})` })),
    content);
  return [
    el("h2", { text: t("exceptions_title") }),
    section(t("claims_due"), "x-claims", claims.length ? table(t("claims_due"),
      [t("claim"), t("project"), t("status"), t("due_date"), { label: t("days_left"), num: true }],
      claims.map((c) => [c.claim_id.slice(0, 8), projectLink(c.proposal_id), t("c_" + c.status), date(c.clock.due_date),
        numCell(c.clock.overdue ? t("overdue") : num(c.clock.days_left), { class: c.clock.overdue ? "num bad" : "num" })])) :
      el("p", { text: t("none") }), claims.length),
    section(t("recoveries"), "x-recoveries", exceptions.open_recoveries.length ? table(t("recoveries"),
      [t("project"), t("fund"), { label: t("recovered"), num: true }, { label: t("repaid"), num: true }, { label: t("outstanding"), num: true }],
      exceptions.open_recoveries.map((r) => [projectLink(r.proposal_id), r.fund_id, numCell(money(r.recovered_cents)),
        numCell(money(r.repaid_cents)), numCell(money(r.outstanding_cents))])) : el("p", { text: t("none") }),
    exceptions.open_recoveries_total),
    section(t("deadletters"), "x-deadletters", recent.length ? table(t("deadletters"), [t("when"), t("code"), t("reasons")],
      recent.map((l) => [time(l.rejected_at), el("code", { text: l.code }),
        (l.reasons || []).map((r) => (typeof r === "string" ? r : (r.field ? r.field + ": " : "") + (r.reason || r.message || ""))).join("; ")])) :
      el("p", { text: t("none") }), recent.length),
    section(t("quarantine"), "x-quarantine", quarantine.length ? table(t("quarantine"), [t("event"), t("reasons")],
      quarantine.map((q) => [el("code", { text: `${q.stream}:${q.sequence} ${q.event_type || ""}` }), q.error])) :
      el("p", { text: t("none") }), quarantine.length),
    section(t("audit"), "x-audit", auditSection(exceptions.latest_audit),
      exceptions.latest_audit ? exceptions.latest_audit.difference_count + (exceptions.latest_audit.failure ? 1 : 0) : 0),
    section(t("logs"), "x-logs", table(t("logs"), [t("log"), { label: t("size"), num: true }, t("age"), t("witnessed_age")],
      exceptions.logs.map((l) => [l.log, numCell(num(l.size)), duration(l.age_s),
        l.witnessed_age_s === null ? el("span", { class: "warn", text: t("not_witnessed") }) : duration(l.witnessed_age_s)])),
    exceptions.logs.filter((l) => l.witnessed_age_s === null).length),
  ];
}

function auditSection(run) {
  if (!run) return el("p", { class: "muted", text: t("audit_none") });
  const failure = run.failure ? `${t("audit_failed")} ${run.failure.sequence} (${run.failure.check})` : null;
  return [
    el("p", {}, `${t("audit_at")}: ${time(run.finished_at)} · ${num(run.events)} ${t("events_n")} · `,
      el("strong", { class: run.ok ? "ok" : "bad", text: run.ok ? t("audit_ok") : (failure || `${num(run.difference_count)}`) })),
    run.differences.length ? table(t("audit"), [t("what"), t("item"), t("ledger_says"), t("projection_says")],
      run.differences.map((d) => [d.kind, d.key, d.ledger, d.other]), "audit-differences") : null,
  ];
}

const listChoice = { status: "" };

async function viewProposals() {
  const path = "/v1/proposals" + (listChoice.status ? "?status=" + encodeURIComponent(listChoice.status) : "");
  const items = await all(path, 500);
  const select = el("select", { id: "status-select" },
    el("option", { value: "", text: t("all_statuses") }),
    STATUSES.map((s) => el("option", { value: s, selected: s === listChoice.status, text: t("s_" + s) })));
  select.addEventListener("change", () => { listChoice.status = select.value; render(); });
  const query = listChoice.status ? "?status=" + encodeURIComponent(listChoice.status) : "";
  return [el("h2", { text: t("proposals_title") }),
    el("p", {}, el("label", { for: "status-select", text: t("filter_status") }), select),
    downloads([[t("proposals_title"), "/v1/proposals" + query], [t("claims"), "/v1/claims"]]),
    table(t("proposals_title"), [t("title"), t("alliance"), t("status"), t("applicant"), { label: t("cost"), num: true }],
      items.map((p) => [el("a", { href: "#/proposal/" + p.proposal_id, text: p.title }), p.alliance_id, t("s_" + p.status),
        p.applicant.name, numCell(money(p.eligible_cost_cents))]), "proposals")];
}

function logOf(stream) {
  if (stream === "LEDGER") return "ledger";
  if (stream === "REVIEWS") return "reviews";
  return null;
}

async function viewProposal(id) {
  let p;
  try {
    p = await api("/v1/proposals/" + encodeURIComponent(id));
  } catch (error) {
    if (error.status === 404 || error.status === 400) return [el("h2", { text: t("proposal_title") }), el("p", { text: t("not_found") })];
    throw error;
  }
  const claims = await all("/v1/claims?proposal_id=" + encodeURIComponent(p.proposal_id), 500);
  const facts = el("dl", { class: "facts" },
    el("dt", { text: t("status") }), el("dd", { id: "proposal-status", "data-status": p.status, text: t("s_" + p.status) }),
    el("dt", { text: t("alliance") }), el("dd", { text: p.alliance_id }),
    el("dt", { text: t("applicant") }), el("dd", { text: `${p.applicant.name} (${p.applicant.district})` }),
    el("dt", { text: t("cost") }), el("dd", { text: money(p.eligible_cost_cents) }));
  const out = [el("p", {}, el("a", { href: "#/proposals", text: "← " + t("back") })),
    el("h2", { text: p.title }), el("p", { text: p.summary }), facts];
  const r = p.review;
  if (r) {
    const names = Object.fromEntries((r.roster || []).map((m) => [m.id, m.name]));
    const voteText = { yes: t("yes"), no: t("no"), abstain: t("abstain") };
    const tally = r.tally || {};
    out.push(el("section", { class: "card", "aria-labelledby": "h-review" },
      el("h3", { id: "h-review", text: t("review") }),
      el("p", { id: "tally" }, `${t("tally")}: ${t("yes")} ${num(tally.yes || 0)} · ${t("no")} ${num(tally.no || 0)} · ` +
        `${t("abstain")} ${num(tally.abstain || 0)} · ${t("recused")} ${num(tally.recused || 0)} · ${t("eligible")} ${num(tally.eligible || 0)}`),
      table(t("votes"), [t("partner"), t("vote"), t("time")],
        (r.votes || []).map((v) => [names[v.partner_id] || v.partner_id, el("span", { "data-vote": v.vote, text: voteText[v.vote] || v.vote }),
          time(v.recorded_at)]), "votes"),
      (r.recusals || []).length ? table(t("recusals"), [t("partner"), t("reasons")],
        r.recusals.map((x) => [names[x.partner_id] || x.partner_id, x.reason || ""]), "recusals") : null,
      table(t("roster"), [t("partner")], (r.roster || []).map((m) => [m.name]), "roster"),
      r.statement ? el("p", { id: "statement" }, `${t("statement")}: `, el("strong", { text: t("v_" + r.statement.verdict) }),
        (r.statement.conditions || []).length ? ` · ${t("conditions")}: ${r.statement.conditions.join("; ")}` : "") : null));
  }
  const m = p.money;
  if (m) {
    const kinds = ["reserved", "committed", "unpaid", "disbursed", "recovered", "receivable", "repaid"];
    out.push(el("section", { class: "card", "aria-labelledby": "h-money" },
      el("h3", { id: "h-money", text: `${t("money")} · ${m.fund_id}` }),
      table(t("money"), [t("figure"), { label: t("esf"), num: true }, { label: t("land"), num: true }, { label: t("total"), num: true }],
        [[t("requested"), numCell(money(m.requested.esf_cents)), numCell(money(m.requested.land_cents)),
          numCell(money((m.requested.esf_cents || 0) + (m.requested.land_cents || 0)))]].concat(
          kinds.map((k) => [t("f_" + k) !== "f_" + k ? t("f_" + k) : t(k), numCell(money(m.esf_plus[k])),
            numCell(money(m.land[k])), numCell(money(m.total[k]), { id: "money-total-" + k, "data-cents": m.total[k] })])), "money"),
      claims.length ? table(t("claims"), [t("claim"), t("status"), { label: t("amount"), num: true }, t("due_date")],
        claims.map((c) => [c.claim_id.slice(0, 8), t("c_" + c.status), numCell(money((c.accepted || c.asked).total_cents)),
          date(c.clock.due_date)]), "claims") : null));
  }
  out.push(el("section", { class: "card", "aria-labelledby": "h-timeline" },
    el("h3", { id: "h-timeline", text: t("timeline") }),
    table(t("timeline"), [t("time"), t("event"), t("actor"), t("proof")],
      (p.timeline || []).map((e) => {
        const log = logOf(e.stream);
        const proof = log ? el("a", { href: `/v1/logs/${log}/proof/${e.event_id}`, text: log === "ledger" ? t("ledger_entry") : t("proof") }) : "";
        return [time(e.time), el("code", { text: e.type.replace(/^buendel\./, "") }), e.actor || "", proof];
      }), "timeline")));
  return out;
}

// --- Routing --------------------------------------------------------------------------------

function applyStaticText() {
  document.documentElement.lang = lang;
  for (const node of document.querySelectorAll("[data-i18n]")) node.textContent = t(node.dataset.i18n);
  for (const node of document.querySelectorAll("[data-i18n-label]")) node.setAttribute("aria-label", t(node.dataset.i18nLabel));
  const button = document.getElementById("lang");
  button.textContent = t("other_lang");
  button.setAttribute("aria-label", t("switch_to"));
}

let rendering = 0;

async function render() {
  const ticket = ++rendering;
  const hash = location.hash.replace(/^#\/?/, "") || "pipeline";
  const [name, arg] = hash.split("/");
  const views = { pipeline: viewPipeline, budget: viewBudget, times: viewTimes, exceptions: viewExceptions, proposals: viewProposals };
  const main = document.getElementById("view");
  applyStaticText();
  for (const link of document.querySelectorAll("nav a")) {
    if (link.dataset.view === (name === "proposal" ? "proposals" : name)) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
  main.setAttribute("aria-busy", "true");
  let content;
  try {
    content = name === "proposal" ? await viewProposal(arg || "") : await (views[name] || viewPipeline)();
  } catch (error) {
    content = [el("p", { class: "error", role: "alert", text: `${t("error")}: ${error.message}` })];
  }
  if (ticket !== rendering) return;
  main.replaceChildren(...content.flat().filter(Boolean));
  main.dataset.view = name;
  main.setAttribute("aria-busy", "false");
  document.title = `Bündel · ${t("nav_" + (name === "proposal" ? "proposals" : (views[name] ? name : "pipeline")))}`;
}

document.addEventListener("DOMContentLoaded", () => {
  document.getElementById("lang").addEventListener("click", () => {
    lang = lang === "de" ? "en" : "de";
    try { localStorage.setItem("buendel.lang", lang); } catch (_) { /* storage may be off */ }
    render();
  });
  window.addEventListener("hashchange", () => { render(); document.getElementById("view").focus(); });
  render();
});
