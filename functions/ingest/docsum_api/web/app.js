// docsum web page: a thin client of the public API. Every URL is relative (the <base> names
// the API's root, so the page works under an API Gateway stage prefix), every piece of
// document content is set as text (never as HTML), and the token lives in sessionStorage and
// the Authorization header only.
"use strict";

const TOKEN_KEY = "docsum.token";
const ID_PATTERN = /^[0-9a-f]{32}$/;
const POLL_MS = 1000;
const FINAL = new Set(["done", "failed"]);
// What one request can carry (the API's MAX_DIRECT_UPLOAD_BYTES); larger files go through
// presigned S3 uploads, which the CLI does (the page talks to its own origin only).
const DIRECT_UPLOAD_BYTES = 4000000;
// Characters of text shown before and after a cited passage.
const PASSAGE_CONTEXT = 200;

const $ = (id) => document.getElementById(id);
let current = null; // the document shown
let pollTimer = null;
let nextCursor = null; // of the documents list

function token() {
  return sessionStorage.getItem(TOKEN_KEY) || "";
}

function say(text, isError = false) {
  const message = $("message");
  message.textContent = text;
  message.classList.toggle("error", isError);
}

class ApiError extends Error {
  constructor(message, status, retryAfter = 0) {
    super(message);
    this.status = status;
    this.retryAfter = retryAfter; // seconds, from a 429's Retry-After
  }

  // The API could not answer now (the network, a 5xx) or refused before doing anything (a
  // 429): nothing is known about the document, so watching it goes on.
  get passing() {
    return this.status === 0 || this.status === 429 || this.status >= 500;
  }
}

async function api(method, path, body) {
  const headers = { Accept: "application/json" };
  if (token()) headers.Authorization = `Bearer ${token()}`;
  const isForm = body instanceof FormData;
  // A FormData body gets its multipart Content-Type (with the boundary) from the browser.
  if (body !== undefined && !isForm) headers["Content-Type"] = "application/json";
  let response;
  try {
    response = await fetch(path, {
      method,
      headers,
      body: body === undefined || isForm ? body : JSON.stringify(body),
      cache: "no-store",
      credentials: "omit",
    });
  } catch {
    throw new ApiError("Cannot reach the API. Is it running?", 0);
  }
  let payload = null;
  try {
    payload = await response.json();
  } catch {
    payload = null;
  }
  if (response.status === 401) {
    throw new ApiError(
      "The API rejected the token. Enter a valid token above (make up prints one).",
      401,
    );
  }
  if (!response.ok) {
    const detail = payload && typeof payload.detail === "string" ? payload.detail : "";
    const retryAfter = Number(response.headers.get("Retry-After")) || 0;
    throw new ApiError(
      detail || `The API answered ${response.status}.`,
      response.status,
      retryAfter,
    );
  }
  return payload;
}

function fail(error) {
  say(error.message, true);
  if (error.status === 401) $("token").focus();
}

function show(doc) {
  current = doc;
  $("document").hidden = false;
  $("doc-title").textContent = doc.title || "Untitled document";
  const status = $("doc-status");
  status.textContent = doc.status;
  status.className = `status ${doc.status}`;
  $("doc-id").textContent = doc.id;
  const source = doc.source;
  const pages = source && source.pages ? `${source.pages} page${source.pages === 1 ? "" : "s"}` : "";
  $("doc-source").textContent = source
    ? [source.filename || source.url, pages].filter(Boolean).join(" · ")
    : "";
  const options = doc.options;
  $("doc-options").textContent = options
    ? [options.length, options.format, options.language === "auto" ? "" : options.language]
        .filter(Boolean).join(" · ")
    : "";
  const progress = doc.progress;
  const chunked = doc.status === "processing" && progress && progress.chunks_total > 0;
  $("doc-progress").hidden = !chunked;
  $("doc-progress-text").textContent = chunked
    ? `${progress.chunks_done} of ${progress.chunks_total} parts summarized`
    : "";
  if (chunked) {
    $("doc-progress").max = progress.chunks_total;
    $("doc-progress").value = progress.chunks_done;
  }
  $("doc-error").textContent = doc.error || "";
  $("doc-method").textContent = [
    doc.method === "extractive"
      ? "Extractive summary: the document's own central sentences (no answer of the model could be used)."
      : "",
    doc.note || "",
  ].filter(Boolean).join(" ");
  showSummary(doc);
  $("copy").disabled = !doc.summary;
  $("resummarize").disabled = !FINAL.has(doc.status);
}

// The summary, each sentence a button that shows the passage it cites (when it has any).
function showSummary(doc) {
  const box = $("doc-summary");
  const sentences = doc.summary && Array.isArray(doc.sentences) ? doc.sentences : [];
  const bullets = doc.options && doc.options.format === "bullets";
  $("doc-sources-help").hidden = sentences.length === 0;
  $("doc-passage").hidden = true;
  if (sentences.length === 0) {
    box.textContent = doc.summary || "";
    return;
  }
  box.replaceChildren();
  sentences.forEach((sentence, index) => {
    if (index > 0) box.append(bullets ? "\n" : " ");
    const button = document.createElement("button");
    button.type = "button";
    button.className = "sentence";
    button.textContent = (bullets ? "- " : "") + sentence.text;
    button.disabled = !sentence.sources.length;
    button.addEventListener("click", () => showPassage(doc, sentence, button));
    box.append(button);
  });
}

// The first passage `sentence` cites, highlighted within the text around it.
async function showPassage(doc, sentence, button) {
  for (const other of $("doc-summary").querySelectorAll(".sentence.selected")) {
    other.classList.remove("selected");
  }
  button.classList.add("selected");
  const source = sentence.sources[0];
  const from = Math.max(0, source.start - PASSAGE_CONTEXT);
  const to = Math.min(doc.text_chars, source.end + PASSAGE_CONTEXT);
  try {
    const span = await api("GET", `documents/${doc.id}/text?start=${from}&end=${to}`);
    const text = span.text;
    const mark = document.createElement("mark");
    mark.textContent = text.slice(source.start - from, source.end - from);
    const quote = $("doc-passage-text");
    quote.replaceChildren(
      (from > 0 ? "…" : "") + text.slice(0, source.start - from),
      mark,
      text.slice(source.end - from) + (to < doc.text_chars ? "…" : ""),
    );
    const page = source.page ? `Page ${source.page}, ` : "";
    const support = Math.round(sentence.support * 100);
    $("doc-passage-where").textContent =
      `${page}characters ${source.start}–${source.end} · ${support}% of the sentence found`;
    $("doc-passage").hidden = false;
    mark.scrollIntoView({ block: "nearest" });
  } catch (error) {
    fail(error);
  }
}

function listItem(doc) {
  const item = document.createElement("li");
  const button = document.createElement("button");
  button.type = "button";
  const status = document.createElement("span");
  status.className = `status ${doc.status}`;
  status.textContent = doc.status;
  const title = document.createElement("span");
  title.textContent = doc.title || "Untitled document";
  button.append(status, title);
  button.addEventListener("click", () => watch(doc));
  item.append(button);
  return item;
}

async function listDocuments(more = false) {
  const params = new URLSearchParams({ limit: "20" });
  if (more && nextCursor) params.set("cursor", nextCursor);
  try {
    const page = await api("GET", `documents?${params}`);
    if (!more) $("documents").replaceChildren();
    for (const doc of page.items) {
      if (ID_PATTERN.test(doc.id)) $("documents").append(listItem(doc));
    }
    nextCursor = page.next_cursor || null;
    $("more").hidden = !nextCursor;
    if (!more && !page.items.length) say("No documents yet.");
  } catch (error) {
    fail(error);
  }
}

async function deleteDocument() {
  if (!current) return;
  const name = current.title || current.id;
  if (!confirm(`Delete “${name}”? Its summary and stored text are removed.`)) return;
  try {
    await api("DELETE", `documents/${current.id}`);
    clearTimeout(pollTimer);
    $("document").hidden = true;
    current = null;
    say(`Deleted “${name}”.`);
    if ($("documents").children.length) listDocuments();
  } catch (error) {
    fail(error);
  }
}

function watch(doc) {
  clearTimeout(pollTimer);
  show(doc);
  if (FINAL.has(doc.status)) {
    say(doc.status === "done" ? "Summary ready." : "The document could not be summarized.",
      doc.status === "failed");
    return;
  }
  say(`Document ${doc.status}…`);
  poll(doc.id, POLL_MS);
}

function poll(id, delayMs) {
  pollTimer = setTimeout(async () => {
    try {
      watch(await api("GET", `documents/${id}`));
    } catch (error) {
      if (!error.passing) {
        fail(error);
        return;
      }
      const seconds = Math.max(POLL_MS / 1000, error.retryAfter);
      say(`${error.message} Trying again in ${seconds} s…`, true);
      poll(id, seconds * 1000);
    }
  }, delayMs);
}

function checkedId(doc) {
  if (!doc || !ID_PATTERN.test(doc.id)) throw new ApiError("Unexpected answer from the API.", 0);
  return doc;
}

async function saveToken(event) {
  event.preventDefault();
  const value = $("token").value.trim();
  if (!value) {
    say("Enter a token first.", true);
    $("token").focus();
    return;
  }
  sessionStorage.setItem(TOKEN_KEY, value);
  $("token").value = "";
  $("token").placeholder = "token saved for this tab";
  try {
    await api("GET", "ready");
    say("Token accepted.");
  } catch (error) {
    // /ready answers 503 when a dependency is down: the token itself was accepted.
    if (error.status === 503) say("Token accepted (the API reports a dependency down).");
    else fail(error);
  }
}

function forgetToken() {
  sessionStorage.removeItem(TOKEN_KEY);
  $("token").placeholder = "";
  say("Token forgotten.");
  $("token").focus();
}

function submission() {
  const file = $("file").files[0];
  const text = $("text").value;
  const title = $("title").value.trim();
  const options = {
    length: $("length").value,
    format: $("format").value,
    language: $("language").value,
  };
  const url = $("url").value.trim();
  if ([file, text.trim(), url].filter(Boolean).length > 1) {
    throw new ApiError("Choose one: a file, a web page or pasted text.", 0);
  }
  if (file) {
    if (file.size > DIRECT_UPLOAD_BYTES) {
      throw new ApiError(
        `${file.name} is larger than this page can send (4 MB): use docsum submit.`, 0);
    }
    const form = new FormData();
    form.append("file", file, file.name);
    if (title) form.append("title", title);
    for (const [name, value] of Object.entries(options)) form.append(name, value);
    return form;
  }
  if (url) return title ? { url, title, ...options } : { url, ...options };
  if (!text.trim()) {
    throw new ApiError("Choose a file, give a web page or paste some text to summarize.", 0);
  }
  return title ? { text, title, ...options } : { text, ...options };
}

async function submitDocument(event) {
  event.preventDefault();
  let body;
  try {
    body = submission();
  } catch (error) {
    fail(error);
    return;
  }
  $("submit").disabled = true;
  say("Sending…");
  try {
    watch(checkedId(await api("POST", "documents", body)));
  } catch (error) {
    fail(error);
  } finally {
    $("submit").disabled = false;
  }
}

async function resummarize() {
  if (!current) return;
  try {
    watch(checkedId(await api("POST", `documents/${current.id}/summarize`)));
  } catch (error) {
    fail(error);
  }
}

async function copySummary() {
  if (!current || !current.summary) return;
  try {
    await navigator.clipboard.writeText(current.summary);
    say("Summary copied.");
  } catch {
    // No clipboard permission: select the text so the user can copy it by hand.
    const range = document.createRange();
    range.selectNodeContents($("doc-summary"));
    getSelection().removeAllRanges();
    getSelection().addRange(range);
    say("Summary selected: press Ctrl+C (⌘C) to copy.");
  }
}

document.addEventListener("DOMContentLoaded", () => {
  if (token()) $("token").placeholder = "token saved for this tab";
  $("token-form").addEventListener("submit", saveToken);
  $("forget-token").addEventListener("click", forgetToken);
  $("submit-form").addEventListener("submit", submitDocument);
  const form = $("submit-form");
  form.addEventListener("dragover", (event) => {
    event.preventDefault();
    form.classList.add("dropping");
  });
  form.addEventListener("dragleave", () => form.classList.remove("dropping"));
  form.addEventListener("drop", (event) => {
    event.preventDefault();
    form.classList.remove("dropping");
    if (event.dataTransfer.files.length) {
      $("file").files = event.dataTransfer.files;
      say(`${event.dataTransfer.files[0].name} chosen.`);
    }
  });
  $("copy").addEventListener("click", copySummary);
  $("resummarize").addEventListener("click", resummarize);
  $("delete").addEventListener("click", deleteDocument);
  $("refresh").addEventListener("click", () => listDocuments());
  $("more").addEventListener("click", () => listDocuments(true));
});
