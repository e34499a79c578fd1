// The clients' console. Plain script, no framework, no build step: it talks
// to the /v1/ JSON API with the session cookie, sends the CSRF token on every
// state-changing request, and shows only what the signed-in role may do
// (the API decides; this only hides). Text from the server goes through
// textContent, never innerHTML.
"use strict";

// Every API path the console uses, in one place. A tenant's resources live
// under /v1/tenants/{tenant}/, the signed-in session's tenant.
const tenantPath = (rest) =>
  `/v1/tenants/${encodeURIComponent(state.session.tenant)}${rest}`;
const api = {
  session: "/v1/session",
  recordings: () => tenantPath("/recordings"),
  recording: (id) => tenantPath(`/recordings/${encodeURIComponent(id)}`),
  audio: (id) => tenantPath(`/recordings/${encodeURIComponent(id)}/audio`),
  transcript: (id) => tenantPath(`/recordings/${encodeURIComponent(id)}/transcript`),
  retention: () => tenantPath("/retention"),
  subprocessors: "/v1/subprocessors",
  objections: () => tenantPath("/objections"),
  audit: () => tenantPath("/audit"),
  users: () => tenantPath("/users"),
  user: (name) => tenantPath(`/users/${encodeURIComponent(name)}`),
  tokens: () => tenantPath("/tokens"),
  token: (id) => tenantPath(`/tokens/${encodeURIComponent(id)}`),
  subjectExport: () => tenantPath("/subjects/export"),
  subjectExportJob: (id) => tenantPath(`/subjects/exports/${encodeURIComponent(id)}`),
  subjectExportZip: (id) => tenantPath(`/subjects/exports/${encodeURIComponent(id)}/zip`),
  subjectErase: () => tenantPath("/subjects/erase"),
};

// The header the API reads the CSRF token from.
const CSRF_HEADER = "X-CSRF-Token";
const LANGUAGES = ["en", "fr"];
const ROLES = ["super_admin", "admin", "supervisor", "user"];

// Which operations (as GET /v1/session lists them) open each page; an empty
// list: any signed-in member of a tenant.
const PAGES = {
  calls: ["list_recordings"],
  retention: ["read_retention"],
  subjects: ["subject_export", "subject_erase"],
  subprocessors: [],
  audit: ["export_audit"],
  users: ["manage_credentials"],
  tokens: ["manage_credentials"],
};

const state = { strings: {}, language: "en", session: null, cursor: null };

const $ = (selector, root = document) => root.querySelector(selector);
const $$ = (selector, root = document) => Array.from(root.querySelectorAll(selector));

function t(key) {
  return state.strings[key] ?? key;
}

function can(operation) {
  return !!state.session && (state.session.may || []).includes(operation);
}

function mayOpen(page) {
  if (!state.session || !state.session.tenant) return false;
  return PAGES[page].length === 0 || PAGES[page].some(can);
}

// ---- requests ----

class ApiError extends Error {
  constructor(status, problem) {
    super((problem && (problem.detail || problem.title)) || `HTTP ${status}`);
    this.status = status;
  }
}

async function request(method, path, body) {
  const headers = { Accept: "application/json" };
  if (method !== "GET" && method !== "HEAD" && state.session && state.session.csrf_token) {
    headers[CSRF_HEADER] = state.session.csrf_token;
  }
  const init = { method, headers, credentials: "same-origin" };
  if (body !== undefined) {
    headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  const response = await fetch(path, init);
  const text = await response.text();
  let data = null;
  if (text) {
    try {
      data = JSON.parse(text);
    } catch (_) {
      data = null;
    }
  }
  if (response.status === 401 && path !== api.session) {
    state.session = null;
    location.hash = "#/login";
  }
  if (!response.ok) {
    throw new ApiError(response.status, data);
  }
  return data;
}

function itemsOf(data, field) {
  if (Array.isArray(data)) return data;
  return (data && data[field]) || [];
}

// ---- language ----

async function loadLanguage(language) {
  const response = await fetch(`/console/strings/${language}.json`);
  state.strings = await response.json();
  state.language = language;
  document.documentElement.lang = language;
  $("#language").value = language;
  $$("[data-text]").forEach((node) => {
    node.textContent = t(node.dataset.text);
  });
  $$("[data-placeholder]").forEach((node) => {
    node.placeholder = t(node.dataset.placeholder);
  });
  $$("select.roles").forEach((select) => {
    select.replaceChildren(
      ...ROLES.map((role) => {
        const option = document.createElement("option");
        option.value = role;
        option.textContent = t(`role.${role}`);
        return option;
      }),
    );
  });
}

// ---- display helpers ----

function showError(error) {
  const box = $("#error");
  if (!error) {
    box.hidden = true;
    return;
  }
  const status = error instanceof ApiError ? error.status : 0;
  const known = { 401: "error.401", 403: "error.403", 404: "error.404" }[status];
  box.textContent = known ? t(known) : `${t("error.other")} ${error.message}`;
  box.hidden = false;
}

function cell(text) {
  const td = document.createElement("td");
  td.textContent = text ?? "";
  return td;
}

function button(label, className, onClick) {
  const node = document.createElement("button");
  node.type = "button";
  node.textContent = label;
  if (className) node.className = className;
  node.addEventListener("click", onClick);
  return node;
}

function formatDate(value) {
  if (!value) return "";
  const date = new Date(value);
  if (Number.isNaN(date.getTime())) return String(value);
  return date.toLocaleString(state.language === "fr" ? "fr-FR" : "en-GB");
}

function formatDuration(seconds) {
  if (seconds === undefined || seconds === null) return "";
  const whole = Math.round(Number(seconds));
  return `${Math.floor(whole / 60)}:${String(whole % 60).padStart(2, "0")}`;
}

// ---- pages ----

function show(page) {
  $$("main > section").forEach((section) => {
    section.hidden = section.id !== `page-${page}`;
  });
  $$("#nav a").forEach((link) => {
    link.classList.toggle("current", link.dataset.page === page);
  });
  document.body.dataset.page = page;
}

async function route() {
  showError(null);
  const [page, argument] = location.hash.replace(/^#\/?/, "").split("/");
  if (!state.session) {
    show("login");
    return;
  }
  if (!state.session.tenant) {
    // The operator belongs to no tenant: nothing here is theirs.
    show("operator");
    return;
  }
  try {
    if (page === "recording" && argument && can("read_recording")) {
      show("recording");
      await openRecording(decodeURIComponent(argument));
    } else if (PAGES[page] && mayOpen(page)) {
      show(page);
      await LOADERS[page]();
    } else {
      const first = Object.keys(PAGES).find(mayOpen);
      if (first && page !== first) {
        location.hash = `#/${first}`;
      } else {
        show("login");
      }
    }
  } catch (error) {
    showError(error);
  }
}

function applySession() {
  const signedIn = !!state.session;
  $("#nav").hidden = !signedIn;
  $("#logout").hidden = !signedIn;
  $$("#nav a").forEach((link) => {
    link.hidden = !signedIn || !mayOpen(link.dataset.page);
  });
  $("#whoami").textContent = signedIn
    ? `${state.session.name || ""} (${t(`role.${state.session.role}`)})`
    : "";
}

async function login(credentials) {
  showError(null);
  try {
    state.session = await request("POST", api.session, credentials);
    if (!state.session || !state.session.may) {
      state.session = await request("GET", api.session);
    }
    applySession();
    if (location.hash === "#/calls") {
      await route();
    } else {
      location.hash = "#/calls";
    }
  } catch (error) {
    state.session = null;
    showError(error);
  }
}

async function logout() {
  try {
    await request("DELETE", api.session);
  } catch (_) {
    // The session is forgotten here whatever the server answered.
  }
  state.session = null;
  applySession();
  location.hash = "#/login";
}

// Calls and recordings.

function searchQuery() {
  const form = $("#calls-search");
  const query = new URLSearchParams();
  for (const name of ["from", "to", "number"]) {
    const value = form.elements[name].value.trim();
    if (value) query.set(name, value);
  }
  if (state.cursor) query.set("cursor", state.cursor);
  return query;
}

async function loadCalls(append = false) {
  if (!append) state.cursor = null;
  const query = searchQuery();
  const data = await request("GET", `${api.recordings()}?${query}`);
  const rows = itemsOf(data, "recordings");
  const body = $("#calls-table tbody");
  if (!append) body.replaceChildren();
  for (const call of rows) {
    const row = document.createElement("tr");
    row.dataset.id = call.id;
    const open = document.createElement("a");
    open.href = `#/recording/${encodeURIComponent(call.id)}`;
    open.textContent = t("calls.open");
    const action = document.createElement("td");
    action.append(open);
    row.append(
      cell(formatDate(call.start)),
      cell(t(`direction.${call.direction}`)),
      cell(formatDuration(call.duration_secs)),
      action,
    );
    body.append(row);
  }
  state.cursor = (data && data.next_cursor) || null;
  $("#calls-more").hidden = !state.cursor;
  $("#calls-empty").hidden = body.children.length > 0;
  $("#calls-table").hidden = body.children.length === 0;
}

async function openRecording(id) {
  const meta = await request("GET", api.recording(id));
  const list = $("#recording-meta");
  list.replaceChildren();
  const fields = [
    ["calls.started", formatDate(meta.start)],
    ["calls.direction", t(`direction.${meta.direction}`)],
    ["calls.duration", formatDuration(meta.duration_secs)],
  ];
  if (meta.incomplete) fields.push(["recording.state", t("recording.incomplete")]);
  for (const [key, value] of fields) {
    const term = document.createElement("dt");
    term.textContent = t(key);
    const description = document.createElement("dd");
    description.textContent = value ?? "";
    list.append(term, description);
  }
  const audio = $("#recording-audio");
  audio.src = api.audio(id);
  audio.dataset.id = id;
  const remove = $("#recording-delete");
  remove.hidden = !can("delete_recording");
  remove.dataset.id = id;
  await loadTranscript(id);
}

async function loadTranscript(id) {
  const box = $("#recording-transcript");
  box.replaceChildren();
  let transcript = null;
  // Transcripts are asked for only by the roles that may read them; for a
  // call without one, the page says so plainly.
  if (can("read_transcript")) {
    try {
      transcript = await request("GET", api.transcript(id));
    } catch (error) {
      if (!(error instanceof ApiError) || error.status !== 404) throw error;
    }
  }
  const segments = (transcript && transcript.segments) || [];
  if (segments.length === 0) {
    const none = document.createElement("p");
    none.className = "muted";
    none.id = "no-transcript";
    none.textContent = t("recording.no_transcript");
    box.append(none);
    return;
  }
  for (const segment of segments) {
    const line = document.createElement("p");
    const who = document.createElement("strong");
    who.textContent = `${t(segment.speaker === "callee" ? "recording.callee" : "recording.caller")} `;
    line.append(who, document.createTextNode(segment.text || ""));
    box.append(line);
  }
}

async function deleteRecording() {
  const id = $("#recording-delete").dataset.id;
  if (!window.confirm(t("recording.confirm_delete"))) return;
  try {
    await request("DELETE", api.recording(id));
    location.hash = "#/calls";
  } catch (error) {
    showError(error);
  }
}

// Retention.

async function loadRetention() {
  const data = await request("GET", api.retention());
  const form = $("#retention-form");
  for (const name of ["recordings_days", "transcripts_days"]) {
    const input = form.elements[name];
    const min = 0;
    const max = data[`max_${name}`];
    input.value = data[name];
    input.min = min;
    if (max !== undefined && max !== null) input.max = max;
    input.disabled = !can("set_retention");
    const kind = name.split("_")[0];
    $(`#retention-bounds-${kind}`).textContent =
      `${t("retention.bounds")} ${min} – ${max ?? "∞"} ${t("retention.days")}`;
  }
  $("#retention-form button").hidden = !can("set_retention");
  $("#retention-saved").hidden = true;
}

async function saveRetention(event) {
  event.preventDefault();
  const form = event.target;
  if (!form.reportValidity()) return;
  try {
    await request("PUT", api.retention(), {
      recordings_days: Number(form.elements.recordings_days.value),
      transcripts_days: Number(form.elements.transcripts_days.value),
    });
    await loadRetention();
    $("#retention-saved").hidden = false;
  } catch (error) {
    showError(error);
  }
}

// Subject requests (DPA 9): an export is a job whose zip is offered for
// download once ready; an erasure reports what it deleted and kept.

const EXPORT_POLL_MS = 1000;
const EXPORT_POLL_LIMIT = 300;

async function loadSubjects() {
  $("#subjects-export").hidden = !can("subject_export");
  $("#subjects-erase").hidden = !can("subject_erase");
  $("#subjects-result").hidden = true;
}

function showSubjectResult(text, link) {
  const box = $("#subjects-result");
  box.textContent = text;
  if (link) {
    const anchor = document.createElement("a");
    anchor.id = "subjects-download";
    anchor.href = link;
    anchor.setAttribute("download", "");
    anchor.textContent = t("subjects.download");
    box.append(" ", anchor);
  }
  box.hidden = false;
}

async function subjectExport(event) {
  event.preventDefault();
  const number = event.target.elements.number.value.trim();
  try {
    const job = await request("POST", api.subjectExport(), { number });
    showSubjectResult(t("subjects.running"));
    for (let attempt = 0; attempt < EXPORT_POLL_LIMIT; attempt += 1) {
      const status = await request("GET", api.subjectExportJob(job.id));
      if (status.state === "ready") {
        showSubjectResult(
          `${t("subjects.ready")} ${status.records}`,
          api.subjectExportZip(job.id),
        );
        return;
      }
      if (status.state === "failed") {
        showSubjectResult(`${t("subjects.failed")} ${status.detail || ""}`);
        return;
      }
      await new Promise((resolve) => setTimeout(resolve, EXPORT_POLL_MS));
    }
    showSubjectResult(t("subjects.still_running"));
  } catch (error) {
    showError(error);
  }
}

async function subjectErase(event) {
  event.preventDefault();
  if (!window.confirm(t("subjects.confirm_erase"))) return;
  const number = event.target.elements.number.value.trim();
  try {
    const result = await request("POST", api.subjectErase(), { number });
    showSubjectResult(
      `${t("subjects.erased")} ${result.deleted}; ${t("subjects.kept_records")} ` +
        `${result.call_records_kept}; ${t("subjects.held")} ${result.held_records}`,
    );
  } catch (error) {
    showError(error);
  }
}

// Sub-processors.

async function loadSubprocessors() {
  const rows = itemsOf(await request("GET", api.subprocessors), "subprocessors");
  const objected = can("read_objections")
    ? itemsOf(await request("GET", api.objections()), "subprocessors")
    : [];
  $("#subprocessors-table th:last-child").hidden = !can("read_objections");
  const body = $("#subprocessors-table tbody");
  body.replaceChildren();
  for (const processor of rows) {
    const row = document.createElement("tr");
    row.dataset.name = processor.name;
    row.append(
      cell(processor.name),
      cell(processor.purpose),
      cell(processor.country),
      cell(processor.transfer_mechanism),
      cell(processor.announced),
    );
    if (can("read_objections")) {
      const isObjected = objected.includes(processor.name);
      const objection = document.createElement("td");
      if (isObjected) objection.textContent = `${t("subprocessors.objected")} `;
      if (can("set_objections")) {
        const next = isObjected
          ? objected.filter((name) => name !== processor.name)
          : objected.concat([processor.name]);
        objection.append(
          button(
            t(isObjected ? "subprocessors.withdraw" : "subprocessors.object"),
            isObjected ? "" : "danger",
            async () => {
              try {
                await request("PUT", api.objections(), { subprocessors: next });
                await loadSubprocessors();
              } catch (error) {
                showError(error);
              }
            },
          ),
        );
      }
      row.append(objection);
    }
    body.append(row);
  }
}

// Audit export: a plain download, the browser keeps the session cookie.

async function loadAudit() {}

function downloadAudit(event) {
  event.preventDefault();
  const form = event.target;
  const query = new URLSearchParams();
  for (const name of ["from", "to"]) {
    if (form.elements[name].value) query.set(name, form.elements[name].value);
  }
  const link = document.createElement("a");
  link.href = `${api.audit()}?${query}`;
  link.download = "audit.jsonl";
  document.body.append(link);
  link.click();
  link.remove();
}

// Users and tokens.

async function loadUsers() {
  const rows = itemsOf(await request("GET", api.users()), "users");
  const body = $("#users-table tbody");
  body.replaceChildren();
  for (const user of rows) {
    const row = document.createElement("tr");
    const actions = document.createElement("td");
    actions.append(
      button(t("users.delete"), "danger", async () => {
        try {
          await request("DELETE", api.user(user.username));
          await loadUsers();
        } catch (error) {
          showError(error);
        }
      }),
    );
    row.append(
      cell(user.username),
      cell(t(`role.${user.role}`)),
      cell((user.numbers || []).join(", ")),
      actions,
    );
    body.append(row);
  }
}

async function createUser(event) {
  event.preventDefault();
  const form = event.target;
  const numbers = form.elements.numbers.value
    .split(/[\s,]+/)
    .filter((number) => number.length > 0);
  try {
    await request("POST", api.users(), {
      username: form.elements.username.value.trim(),
      password: form.elements.password.value,
      role: form.elements.role.value,
      numbers,
    });
    form.reset();
    await loadUsers();
  } catch (error) {
    showError(error);
  }
}

async function loadTokens() {
  const rows = itemsOf(await request("GET", api.tokens()), "tokens");
  const body = $("#tokens-table tbody");
  body.replaceChildren();
  for (const token of rows) {
    const row = document.createElement("tr");
    const actions = document.createElement("td");
    actions.append(
      button(t("tokens.revoke"), "danger", async () => {
        try {
          await request("DELETE", api.token(token.id));
          await loadTokens();
        } catch (error) {
          showError(error);
        }
      }),
    );
    row.append(
      cell(token.name),
      cell(t(`role.${token.role}`)),
      cell(token.expires ? formatDate(token.expires) : t("tokens.never")),
      actions,
    );
    body.append(row);
  }
}

async function createToken(event) {
  event.preventDefault();
  const form = event.target;
  const body = { name: form.elements.name.value.trim(), role: form.elements.role.value };
  if (form.elements.expires.value) body.expires = `${form.elements.expires.value}T00:00:00Z`;
  try {
    const created = await request("POST", api.tokens(), body);
    const secret = $("#tokens-secret");
    $("code", secret).textContent = created.token;
    secret.hidden = false;
    form.reset();
    await loadTokens();
  } catch (error) {
    showError(error);
  }
}

const LOADERS = {
  calls: () => loadCalls(false),
  retention: loadRetention,
  subjects: loadSubjects,
  subprocessors: loadSubprocessors,
  audit: loadAudit,
  users: loadUsers,
  tokens: loadTokens,
};

// ---- start ----

function chosenLanguage() {
  const stored = window.localStorage.getItem("language");
  if (LANGUAGES.includes(stored)) return stored;
  const served = document.documentElement.lang;
  return LANGUAGES.includes(served) ? served : "en";
}

async function start() {
  await loadLanguage(chosenLanguage());
  $("#language").addEventListener("change", async (event) => {
    window.localStorage.setItem("language", event.target.value);
    await loadLanguage(event.target.value);
    applySession();
    await route();
  });
  $("#login-password").addEventListener("submit", (event) => {
    event.preventDefault();
    const form = event.target;
    login({ username: form.elements.username.value.trim(), password: form.elements.password.value });
  });
  $("#login-token").addEventListener("submit", (event) => {
    event.preventDefault();
    login({ token: event.target.elements.token.value.trim() });
  });
  $("#logout").addEventListener("click", logout);
  $("#calls-search").addEventListener("submit", async (event) => {
    event.preventDefault();
    try {
      await loadCalls(false);
    } catch (error) {
      showError(error);
    }
  });
  $("#calls-more").addEventListener("click", async () => {
    try {
      await loadCalls(true);
    } catch (error) {
      showError(error);
    }
  });
  $("#recording-delete").addEventListener("click", deleteRecording);
  $("#retention-form").addEventListener("submit", saveRetention);
  $("#subjects-export").addEventListener("submit", (event) =>
    subjectExport(event),
  );
  $("#subjects-erase").addEventListener("submit", (event) =>
    subjectErase(event),
  );
  $("#audit-form").addEventListener("submit", downloadAudit);
  $("#users-form").addEventListener("submit", createUser);
  $("#tokens-form").addEventListener("submit", createToken);
  window.addEventListener("hashchange", route);

  try {
    state.session = await request("GET", api.session);
  } catch (_) {
    state.session = null;
  }
  applySession();
  await route();
  document.body.dataset.ready = "true";
}

document.addEventListener("DOMContentLoaded", start);
