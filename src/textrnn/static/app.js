// The page: POST /explain, then draw the probabilities as bars and shade each word by
// its occlusion score (the drop in the top class's probability without that word).
"use strict";

const $ = (id) => document.getElementById(id);

function el(tag, cls, text) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined) e.textContent = text;   // never innerHTML: the text is the user's
  return e;
}

async function describe() {
  try {
    const info = await (await fetch("/info")).json();
    const acc = info.test && info.test.accuracy !== undefined
      ? `, test accuracy ${(100 * info.test.accuracy).toFixed(2)}%` : "";
    $("model-line").textContent = `${info.cell.toUpperCase()} classifier "${info.model}" ` +
      `(${info.backend} backend): ${info.classes.join(", ")}${acc}`;
    document.querySelectorAll(".maxlen").forEach((e) => { e.textContent = info.config.maxlen; });
  } catch (err) {
    $("model-line").textContent = "could not read /info";
  }
}

function drawBars(labels) {
  const bars = $("bars");
  bars.replaceChildren();
  labels.forEach((x, i) => {
    const row = el("div", "bar-row" + (i === 0 ? " top" : ""));
    row.dataset.label = x.label;
    const track = el("div", "bar-track");
    const fill = el("div", "bar-fill");
    fill.style.width = (100 * x.probability).toFixed(1) + "%";
    track.appendChild(fill);
    row.append(el("span", "bar-label", x.label), track,
               el("span", "bar-value", (100 * x.probability).toFixed(1) + "%"));
    bars.appendChild(row);
  });
}

function shade(span, weight, scale) {
  const a = scale > 0 ? Math.min(1, Math.abs(weight) / scale) : 0;
  const rgb = weight >= 0 ? "var(--pos)" : "var(--neg)";
  span.style.backgroundColor = `rgba(${rgb}, ${(0.75 * a).toFixed(3)})`;
}

function drawWords(text, words) {
  const box = $("words");
  box.replaceChildren();
  const scale = Math.max(0, ...words.map((w) => Math.abs(w.weight)));
  let pos = 0;
  const spans = words.length > 0 && words[0].start !== undefined;
  words.forEach((w) => {
    const s = el("span", "word" + (w.read ? "" : " unread"), spans ? text.slice(w.start, w.end) : w.word);
    s.dataset.weight = w.weight.toFixed(6);
    s.title = w.read ? `${w.weight >= 0 ? "+" : ""}${(100 * w.weight).toFixed(2)} points`
                     : "not read by the model";
    if (w.read) shade(s, w.weight, scale);
    if (spans) { box.append(text.slice(pos, w.start)); pos = w.end; }
    else if (box.childNodes.length) box.append(" ");
    box.appendChild(s);
  });
  if (spans) box.append(text.slice(pos));
}

async function classify() {
  const text = $("text").value;
  const status = $("status");
  status.className = "";
  if (!text.trim()) { status.textContent = "paste a text first"; return; }
  $("classify").disabled = true;
  status.textContent = "classifying...";
  const t0 = performance.now();
  try {
    const r = await fetch("/explain", { method: "POST",
      headers: { "Content-Type": "application/json" }, body: JSON.stringify({ text }) });
    const body = await r.json();
    if (!r.ok) throw new Error(body.message || `HTTP ${r.status}`);
    drawBars(body.labels);
    $("top-label").textContent = body.labels[0].label;
    $("top-prob").textContent = `(${(100 * body.labels[0].probability).toFixed(1)}%)`;
    document.querySelectorAll(".target").forEach((e) => { e.textContent = body.target; });
    $("rows").textContent = body.rows;
    drawWords(text, body.words);
    $("result").hidden = false;
    status.textContent = `done in ${Math.round(performance.now() - t0)} ms`;
  } catch (err) {
    status.className = "error";
    status.textContent = "error: " + err.message;
  } finally {
    $("classify").disabled = false;
  }
}

$("classify").addEventListener("click", classify);
$("text").addEventListener("keydown", (e) => {
  if (e.key === "Enter" && (e.ctrlKey || e.metaKey)) classify();
});
describe();
