// wirelab one-time secret: the page's whole client side. The key never leaves this page:
// it is drawn here, put in the link's #fragment (which browsers never send), and the server
// receives only AES-256-GCM ciphertext and its IV. Format: see src/secret/format.rs.
"use strict";

const SALT = new TextEncoder().encode("wirelab one-time secret v1");
const INFO = new TextEncoder().encode("aes-256-gcm key");
const INFO_PASSPHRASE = new TextEncoder().encode("aes-256-gcm key+pbkdf2 passphrase");
const PBKDF2_ITERATIONS = 600000;
const TTL_NAMES = { 60: "1 minute", 300: "5 minutes", 3600: "1 hour", 86400: "1 day", 604800: "7 days" };

const $ = (id) => document.getElementById(id);

function b64(bytes) {
  let s = "";
  for (const b of bytes) s += String.fromCharCode(b);
  return btoa(s);
}
function unb64(text) {
  const s = atob(text);
  const out = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) out[i] = s.charCodeAt(i);
  return out;
}
function b64url(bytes) {
  return b64(bytes).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}
function unb64url(text) {
  let s = text.replace(/-/g, "+").replace(/_/g, "/");
  while (s.length % 4) s += "=";
  return unb64(s);
}

async function deriveKey(token, passphrase) {
  let ikm = token;
  if (passphrase) {
    // The passphrase is stretched first (PBKDF2-HMAC-SHA256, salted with the token), so a
    // leaked link does not let a guess cost one HKDF only.
    const pass = await crypto.subtle.importKey(
      "raw", new TextEncoder().encode(passphrase), "PBKDF2", false, ["deriveBits"]);
    const stretched = new Uint8Array(await crypto.subtle.deriveBits(
      { name: "PBKDF2", hash: "SHA-256", salt: token, iterations: PBKDF2_ITERATIONS }, pass, 256));
    ikm = new Uint8Array(token.length + stretched.length);
    ikm.set(token, 0);
    ikm.set(stretched, token.length);
  }
  const base = await crypto.subtle.importKey("raw", ikm, "HKDF", false, ["deriveKey"]);
  return crypto.subtle.deriveKey(
    { name: "HKDF", hash: "SHA-256", salt: SALT, info: passphrase ? INFO_PASSPHRASE : INFO },
    base, { name: "AES-GCM", length: 256 }, false, ["encrypt", "decrypt"]);
}

function status(text, kind) {
  const el = $("status");
  el.textContent = text;
  el.className = "status " + (kind || "");
  el.hidden = false;
}

async function api(method, path, body) {
  const res = await fetch(path, {
    method,
    headers: body ? { "content-type": "application/json" } : {},
    body: body ? JSON.stringify(body) : undefined,
    cache: "no-store",
    referrerPolicy: "no-referrer",
  });
  let data = {};
  try { data = await res.json(); } catch (_) { /* not JSON */ }
  return { status: res.status, data };
}

async function setupCreate() {
  $("create-view").hidden = false;
  const cfg = await api("GET", "/api/config");
  const ttls = (cfg.data && cfg.data.ttls) || [300, 3600, 86400, 604800];
  for (const t of ttls) {
    const o = document.createElement("option");
    o.value = String(t);
    o.textContent = TTL_NAMES[t] || (t + " seconds");
    if (t === 3600) o.selected = true;
    $("ttl").appendChild(o);
  }
  $("create").addEventListener("click", async () => {
    const text = $("secret").value;
    if (!text) { status("Type a secret first.", "error"); return; }
    const plain = new TextEncoder().encode(text);
    if (plain.length > 65536) { status("Too large: at most 64 KiB.", "error"); return; }
    $("create").disabled = true;
    try {
      const token = crypto.getRandomValues(new Uint8Array(32));
      const iv = crypto.getRandomValues(new Uint8Array(12));
      const passphrase = $("passphrase").value;
      const key = await deriveKey(token, passphrase || null);
      const ct = new Uint8Array(await crypto.subtle.encrypt({ name: "AES-GCM", iv }, key, plain));
      const res = await api("POST", "/api/secrets", {
        ciphertext: b64(ct), iv: b64(iv), ttl: Number($("ttl").value),
        views: Number($("views").value), passphrase: !!passphrase,
      });
      if (res.status !== 201) { status("Not created: " + (res.data.error || res.status), "error"); return; }
      const link = location.origin + "/s/" + res.data.id + "#" + b64url(token);
      $("link").value = link;
      $("result").hidden = false;
      $("result-note").textContent = "Expires in " + (TTL_NAMES[res.data.ttl] || res.data.ttl + " s") +
        (passphrase ? ". The reader also needs the passphrase." : ".");
      $("secret").value = "";
      status("Link created. The server holds only ciphertext.", "ok");
    } catch (e) {
      status("Encryption failed: " + e, "error");
    } finally {
      $("create").disabled = false;
    }
  });
  $("copy").addEventListener("click", async () => {
    $("link").select();
    try { await navigator.clipboard.writeText($("link").value); status("Copied.", "ok"); } catch (_) { /* selected */ }
  });
}

async function setupReveal(id) {
  $("reveal-view").hidden = false;
  const frag = location.hash.slice(1);
  // The key stays in this page only: drop it from the address bar and the history.
  history.replaceState(null, "", location.pathname);
  let token;
  try { token = unb64url(frag); } catch (_) { token = null; }
  if (!token || token.length !== 32) {
    $("reveal-info").textContent = "This link has no key (the part after #). Ask for the whole link.";
    status("Incomplete link.", "error");
    return;
  }
  const meta = await api("GET", "/api/secrets/" + encodeURIComponent(id));
  if (meta.status !== 200) {
    $("reveal-info").textContent = meta.data.reason === "opened"
      ? "This secret was already opened."
      : (meta.data.error || "No such secret.");
    status(meta.data.reason === "opened" ? "Already opened." : "Not available.", "error");
    return;
  }
  const views = meta.data.views_left;
  $("reveal-info").textContent = "It can be read " + (views === 1 ? "once" : views + " more times") +
    ", then it is deleted. Reveal it only when you are ready to copy it.";
  $("reveal-pass").hidden = !meta.data.passphrase;
  $("reveal").hidden = false;
  $("reveal").addEventListener("click", async () => {
    $("reveal").disabled = true;
    const res = await api("POST", "/api/secrets/" + encodeURIComponent(id) + "/claim");
    if (res.status !== 200) {
      $("reveal").hidden = true;
      $("reveal-info").textContent = res.data.reason === "opened"
        ? "This secret was already opened." : (res.data.error || "Not available.");
      status(res.data.reason === "opened" ? "Already opened." : "Not available.", "error");
      return;
    }
    try {
      const key = await deriveKey(token, res.data.passphrase ? $("reveal-passphrase").value : null);
      const plain = await crypto.subtle.decrypt(
        { name: "AES-GCM", iv: unb64(res.data.iv) }, key, unb64(res.data.ciphertext));
      $("plaintext").value = new TextDecoder().decode(plain);
      $("revealed").hidden = false;
      $("reveal").hidden = true;
      $("reveal-pass").hidden = true;
      $("reveal-info").textContent = "Deleted from the server" +
        (res.data.views_left > 0 ? " after " + res.data.views_left + " more view(s)." : ".");
      status("Decrypted in this page.", "ok");
    } catch (_) {
      $("reveal").hidden = true;
      $("reveal-info").textContent = "The secret could not be decrypted.";
      status("Decryption failed: the ciphertext was tampered with, or the key or passphrase is wrong. Nothing was shown.", "error");
    }
  });
}

document.addEventListener("DOMContentLoaded", () => {
  const m = location.pathname.match(/^\/s\/([A-Za-z0-9_-]{22})$/);
  const run = m ? setupReveal(m[1]) : setupCreate();
  run.catch((e) => status("Error: " + e, "error"));
});
