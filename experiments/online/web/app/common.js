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

  /** A banner saying the page is reconnecting (shown while posts are retried). */
  function banner(show) {
    let el = document.getElementById("cm-reconnecting");
    if (show && !el) {
      el = document.createElement("div");
      el.id = "cm-reconnecting";
      el.className = "cm-banner";
      el.textContent = "Connection lost; retrying... Please keep this page open.";
      document.body.appendChild(el);
    } else if (!show && el) {
      el.remove();
    }
  }

  /** Statuses worth retrying: the server restarting, busy, or slow to get the body. */
  const TRANSIENT = new Set([408, 429, 502, 503, 504]);

  /** POST JSON; network errors, 5xx and transient refusals are retried with backoff (the
   * idempotency key makes that safe; ~2.5 min in all by default), other refusals are thrown at
   * once with the server's message and status. */
  async function post(path, body, secret, retries = 30) {
    for (let attempt = 0; ; attempt++) {
      let response = null;
      try {
        response = await fetch(path, {
          method: "POST",
          headers: { "Content-Type": "application/json", Authorization: `Bearer ${secret}` },
          body: JSON.stringify(body),
        });
      } catch (err) {
        if (attempt >= retries) { banner(false); throw err; }
      }
      if (response === null || ((response.status >= 500 || TRANSIENT.has(response.status)) && attempt < retries)) {
        if (attempt >= 1 && retries > 1) banner(true);
        await sleep(Math.min(5000, 200 * 2 ** attempt));
        continue;
      }
      banner(false);
      const data = await response.json().catch(() => ({}));
      if (!response.ok) {
        const detail = data.detail;
        const message = typeof detail === "string" ? detail : detail && detail.message ? detail.message
          : `the server refused it (${response.status})`;
        const error = new Error(message);
        error.status = response.status;
        throw error;
      }
      return data;
    }
  }

  /** A post the page cannot go on without (a trial, a round): a refusal stops the page with a
   * message saying what to do; the returned promise then never settles. */
  function saved(promise, pid) {
    return promise.catch((err) => {
      fatal(`Your last answer could not be saved: ${err.message}. Please reload this page. If this happens ` +
        `again, contact the researcher and give your participant id (${pid}).`);
      return new Promise(() => {});
    });
  }

  /** The jsPsych browser-check trial of a task: measures the browser and posts it; the server
   * refuses trials and rounds until it has accepted one. Returns { trial, ready } where ready()
   * is a promise of the post (posts of data wait for it), and onResult(hz) is told the rate. */
  function browserCheck(kind, pid, secret, stop, onResult) {
    let posted = null;
    const trial = {
      type: jsPsychBrowserCheck,
      features: ["width", "height", "browser", "browser_version", "mobile", "os", "vsync_rate"],
      vsync_frame_count: 60,
      skip_features: [],
      inclusion_function: (d) => !d.mobile,
      exclusion_message: () => {
        stop(null);
        return "<p class='cm-text'>This study needs a desktop or laptop computer.</p>";
      },
      on_finish: (d) => {
        if (onResult) onResult(d.vsync_rate);
        posted = post(`/api/${kind}/browser`, {
          participant_id: pid, refresh_hz: d.vsync_rate, width: d.width, height: d.height,
          browser: String(d.browser || ""), browser_version: String(d.browser_version || ""),
          os: String(d.os || ""), mobile: !!d.mobile, user_agent: navigator.userAgent.slice(0, 512),
        }, secret).catch((err) => {
          stop(`<p class='cm-text'>${escapeHtml(err.message)}</p>`);
          return new Promise(() => {});
        });
      },
    };
    return { trial, ready: () => posted || Promise.resolve(null) };
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
    if (document.fullscreenElement && document.exitFullscreen) document.exitFullscreen().catch(() => {});
    document.body.innerHTML = `<div class="cm-message cm-fatal">${escapeHtml(message)}</div>`;
  }

  /** The end screen: the completion code, then the redirect when the study gave one. */
  function finish(completion, what) {
    if (document.fullscreenElement && document.exitFullscreen) document.exitFullscreen().catch(() => {});
    const code = completion && completion.completion_code
      ? `<p>Your completion code: <b id="cm-completion-code">${escapeHtml(completion.completion_code)}</b></p>`
      : completion && completion.flagged ? `<p id="cm-flagged">${escapeHtml(completion.message)}</p>` : "";
    document.body.innerHTML = `<div class="cm-message" id="cm-done"><h2>Thank you!</h2><p>The ${escapeHtml(what)} is complete and your data are saved.</p>${code}</div>`;
    if (completion && completion.redirect_url && completion.completion_code) {
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
    if (/[{}%]/.test(pid)) {
      fatal("This link still holds the recruitment platform's placeholder instead of your id. Please open the " +
        "study from the platform's page (it fills in your id).");
      return null;
    }
    const secret = token(kind, pid);
    let start;
    try {
      start = await post(`/api/${kind}/start`, { ...theIds, token: secret }, secret);
    } catch (err) {
      fatal(`The ${what} could not start: ${err.message}. Please reload this page; if this happens again, ` +
        `contact the researcher with your participant id (${pid}).`);
      return null;
    }
    if (start.completion) {
      finish(start.completion, kind);
      return null;
    }
    return { pid, secret, start };
  }

  return { ids, token, post, saved, browserCheck, begin, rateFromTimes, escapeHtml, fatal, finish, sleep, randomHex, jsKey, params };
})();
