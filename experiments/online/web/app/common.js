/* Shared by the experiment and game pages of `clickme serve`: ids from the URL, the
 * participant's secret token, posts with retries, refresh-rate estimates, the end screen. */
"use strict";

const ClickMe = (() => {
  const params = new URLSearchParams(window.location.search);

  /** Participant, study and session ids as recruitment platforms pass them (Prolific style). */
  function ids() {
    const get = (...names) => {
      for (const n of names) {
        const v = params.get(n);
        if (v) return v;
      }
      return null;
    };
    return {
      participant_id: get("PROLIFIC_PID", "participant_id", "participant", "workerId"),
      study_id: get("STUDY_ID", "study_id", "assignmentId"),
      session_id: get("SESSION_ID", "session_id", "hitId"),
    };
  }

  function randomHex(nBytes) {
    const bytes = crypto.getRandomValues(new Uint8Array(nBytes));
    return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
  }

  /** The participant's secret, made here and kept in this browser (the server stores its hash). */
  function token(task, participantId) {
    const key = `clickme:${task}:${participantId}`;
    let value = window.localStorage.getItem(key);
    if (!value) {
      value = randomHex(32);
      window.localStorage.setItem(key, value);
    }
    return value;
  }

  const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

  /** POST JSON; network errors and 5xx are retried (the idempotency key makes that safe),
   * 4xx refusals are thrown at once with the server's message. */
  async function post(path, body, secret, retries = 8) {
    for (let attempt = 0; ; attempt++) {
      let response;
      try {
        response = await fetch(path, {
          method: "POST",
          headers: { "Content-Type": "application/json", Authorization: `Bearer ${secret}` },
          body: JSON.stringify(body),
        });
      } catch (err) {
        if (attempt >= retries) throw err;
        await sleep(Math.min(5000, 200 * 2 ** attempt));
        continue;
      }
      if (response.status >= 500 && attempt < retries) {
        await sleep(Math.min(5000, 200 * 2 ** attempt));
        continue;
      }
      const data = await response.json().catch(() => ({}));
      if (!response.ok) {
        const detail = data.detail;
        const message = typeof detail === "string" ? detail : detail && detail.message ? detail.message
          : JSON.stringify(detail);
        const error = new Error(`${response.status}: ${message}`);
        error.status = response.status;
        throw error;
      }
      return data;
    }
  }

  /** Refresh rate from the median interval between animation frames. */
  function rateFromTimes(times) {
    if (times.length < 3) return null;
    const d = [];
    for (let i = 1; i < times.length; i++) d.push(times[i] - times[i - 1]);
    d.sort((a, b) => a - b);
    const median = d[Math.floor(d.length / 2)];
    return median > 0 ? 1000 / median : null;
  }

  function escapeHtml(text) {
    const div = document.createElement("div");
    div.textContent = String(text);
    return div.innerHTML;
  }

  function fatal(message) {
    document.body.innerHTML = `<div class="cm-message cm-fatal">${escapeHtml(message)}</div>`;
  }

  /** The end screen: the completion code, then the redirect when the study gave one. */
  function finish(completion, what) {
    if (document.fullscreenElement && document.exitFullscreen) document.exitFullscreen().catch(() => {});
    const code = completion && completion.completion_code
      ? `<p>Your completion code: <b id="cm-completion-code">${escapeHtml(completion.completion_code)}</b></p>` : "";
    document.body.innerHTML = `<div class="cm-message" id="cm-done"><h2>Thank you!</h2><p>The ${escapeHtml(what)} is complete and your data are saved.</p>${code}</div>`;
    if (completion && completion.redirect_url) {
      setTimeout(() => { window.location.href = completion.redirect_url; }, 3000);
    }
  }

  /** A jsPsych key name of a config key ("space" -> " "). */
  const jsKey = (name) => (name === "space" ? " " : name);

  /** Start (or resume) a task: reads the ids from the URL, makes the secret, posts
   * /api/<kind>/start. Returns { pid, secret, start }, or null when the page has already said why it
   * cannot go on (no participant id, a refused start, or a task already completed). */
  async function begin(kind, what) {
    const theIds = ids();
    if (!theIds.participant_id) {
      fatal("This link lacks a participant id (PROLIFIC_PID=...). Please use the link from the study page.");
      return null;
    }
    const pid = theIds.participant_id;
    const secret = token(kind, pid);
    let start;
    try {
      start = await post(`/api/${kind}/start`, { ...theIds, token: secret }, secret);
    } catch (err) {
      fatal(`The ${what} could not start: ${err.message}`);
      return null;
    }
    if (start.completion) {
      finish(start.completion, kind);
      return null;
    }
    return { pid, secret, start };
  }

  return { ids, token, post, begin, rateFromTimes, escapeHtml, fatal, finish, sleep, randomHex, jsKey, params };
})();
