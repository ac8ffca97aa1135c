/* The rapid-categorization experiment in the browser (jsPsych): consent, instructions, full
 * screen, the browser and refresh-rate check, preloading of every stimulus, training, blocks with
 * feedback. Each trial is posted as it ends (with an idempotency key, retried until stored); a
 * reload resumes after the last stored trial. */
"use strict";

(async function main() {
  const begun = await ClickMe.begin("experiment", "study");
  if (!begun) return;
  const { pid, secret, start } = begun;
  const design = start.design;
  const timing = design.timing;
  const info = design.info;
  document.body.style.background = timing.background;
  const done = new Set(start.done.map((k) => k.join("|")));
  const remaining = design.trials.filter((t) => !done.has([t.phase, t.block, t.trial].join("|")));
  const resumed = start.done.length > 0;
  const cont = ClickMe.jsKey(design.continue_key);
  let refreshHz = null;
  const blockResults = {};
  let stopped = false;
  const stop = (html) => {
    stopped = true;
    jsPsych.abortExperiment(html);
  };

  const jsPsych = initJsPsych({
    on_finish: async () => {
      if (stopped) return;
      try {
        const completion = await ClickMe.post("/api/experiment/complete", { participant_id: pid }, secret);
        ClickMe.finish(completion, "experiment");
      } catch (err) {
        ClickMe.fatal(`Your data could not all be saved (${err.message}). Please reload this page; if this ` +
          `happens again, contact the researcher with your participant id (${pid}).`);
      }
    },
  });

  const timeline = [];
  if (!resumed) {
    timeline.push({
      type: jsPsychHtmlButtonResponse,
      stimulus: "<div class='cm-text'><h2>Consent</h2><p>This study shows pictures very briefly and asks whether " +
        "each one shows an animal. It takes about 10 minutes. Your responses and their timing are stored with " +
        "your platform id, study id and session id, and used for research only. You may stop at any time.</p>" +
        "<p>Do you agree to take part?</p></div>",
      choices: ["I agree", "I do not agree"],
      data: { screen: "consent" },
      on_finish: (data) => {
        if (data.response !== 0) stop("<p class='cm-text'>You did not consent; you may close this page.</p>");
      },
    });
  }
  timeline.push({
    type: jsPsychInstructions,
    pages: resumed
      ? ["<p class='cm-text'>Welcome back: the experiment continues where you left it.</p>"]
      : [`<div class='cm-text'>${ClickMe.escapeHtml(start.instructions).replace(/\n/g, "<br>")}</div>`.replace(
        /Press the space bar to start\./, "Click 'Next' to go on."),
      "<p class='cm-text'>Keep your fingers on the two keys. The picture is shown for less than half a second: " +
        "answer as fast and as accurately as you can.</p>"],
    show_clickable_nav: true,
    data: { screen: "instructions" },
  });
  timeline.push({ type: jsPsychFullscreen, fullscreen_mode: true, message: "<p class='cm-text'>The experiment runs in full screen.</p>" });
  const check = ClickMe.browserCheck("experiment", pid, secret, (html) => {
    if (html) stop(html); else stopped = true;
  }, (hz) => { refreshHz = hz; });
  timeline.push(check.trial);
  timeline.push({
    type: jsPsychPreload,
    images: Array.from(new Set(remaining.map((t) => `/stimuli/${t.stimulus}.png`))),
    show_progress_bar: true,
    message: "<p class='cm-text'>Loading the pictures...</p>",
    max_load_time: 120000,
    error_message: "<p class='cm-text'>The pictures could not be loaded; please reload the page.</p>",
    continue_after_error: false,
  });

  const record = (t) => (data) => ClickMe.saved(check.ready().then(() => ClickMe.post("/api/experiment/trials", {
    participant_id: pid, idempotency_key: `${pid}-${t.phase}-${t.block}-${t.trial}-${ClickMe.randomHex(6)}`,
    phase: t.phase, block: t.block, trial: t.trial, response: data.response, rt_ms: data.rt_ms,
    rt_frames: data.rt_frames, refresh_hz: data.refresh_hz, fixation_frames: data.fixation_frames,
    fixation_ms: data.fixation_ms, stim_frames_requested: data.stim_frames_requested, stim_frames: data.stim_frames,
    stim_ms: data.stim_ms, frame_intervals_ms: data.frame_intervals_ms, onset_ms: data.onset_ms,
    client_time: new Date().toISOString(),
  }, secret)), pid);

  remaining.forEach((t, i) => {
    const next = remaining[i + 1];
    timeline.push({
      type: jsPsychFrameTimedTrial,
      stimulus: `/stimuli/${t.stimulus}.png`,
      image_size: timing.image_size,
      fixation_ms: 1000 * t.fixation_duration,
      stimulus_ms: 1000 * timing.stimulus_duration,
      response_window_ms: 1000 * timing.response_window,
      refresh_hz: () => refreshHz || 60,
      choices: [info.target_key, info.distractor_key],
      too_slow_ms: 1000 * timing.too_slow_duration,
      feedback_ms: t.phase === "training" ? 1000 * timing.training_feedback_duration : 0,
      is_target: t.target,
      target_key: info.target_key,
      record: record(t),
      data: { screen: "trial", phase: t.phase, block: t.block, trial: t.trial },
      on_finish: (data) => {
        const key = `${t.phase}|${t.block}`;
        (blockResults[key] = blockResults[key] || []).push(data);
      },
      post_trial_gap: 0,
    });
    const blockEnds = !next || next.phase !== t.phase || next.block !== t.block;
    if (!blockEnds) return;
    if (t.phase === "training") {
      timeline.push({
        type: jsPsychHtmlKeyboardResponse,
        stimulus: "<p class='cm-text'>Practice done. Now the test blocks, without feedback after each picture.<br><br>Press the space bar to start.</p>",
        choices: [cont],
        data: { screen: "practice-done" },
      });
    } else {
      timeline.push({
        type: jsPsychHtmlKeyboardResponse,
        stimulus: () => {
          // scored by the server: the reply to the block's last trial carries the block's summary
          const rows = blockResults[`test|${t.block}`] || [];
          const last = rows.length ? rows[rows.length - 1].server : null;
          const sum = (last && last.block_summary) || { accuracy: null, mean_rt_ms: null };
          const meanRt = sum.mean_rt_ms === null ? "-" : `${Math.round(sum.mean_rt_ms)} ms`;
          const acc = sum.accuracy === null ? "-" : Math.round(100 * sum.accuracy);
          return `<p class='cm-text' id='cm-block-feedback'>Block ${t.block} done.<br><br>Accuracy: ${acc} %<br>` +
            `Mean reaction time: ${meanRt}<br><br>Press the space bar to go on.</p>`;
        },
        choices: [cont],
        trial_duration: 1000 * timing.block_feedback_max,
        data: { screen: "block-feedback", block: t.block },
      });
    }
  });
  jsPsych.run(timeline);
})();
