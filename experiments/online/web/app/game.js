/* The ClickMe game in the browser (jsPsych): consent, instructions, preloading, then one round
 * per image of the participant's order, each posted as it ends; a reload resumes after the last
 * stored round. */
"use strict";

(async function main() {
  const begun = await ClickMe.begin("game", "game");
  if (!begun) return;
  const { pid, secret, start } = begun;
  const s = start.design;
  document.body.style.background = s.background;
  const played = new Set(start.done);
  const rounds = s.order.map((item, i) => ({ ...item, round: i + 1 })).filter((r) => !played.has(r.round));
  let score = start.score;
  let stopped = false;

  const jsPsych = initJsPsych({
    on_finish: async () => {
      if (stopped) return;
      try {
        const completion = await ClickMe.post("/api/game/complete", { participant_id: pid }, secret);
        ClickMe.finish(completion, "game");
      } catch (err) {
        ClickMe.fatal(`Your rounds could not all be saved (${err.message}). Please reload this page; if this ` +
          `happens again, contact the researcher with your participant id (${pid}).`);
      }
    },
  });
  const timeline = [];
  if (!start.done.length) {
    timeline.push({
      type: jsPsychHtmlButtonResponse,
      stimulus: "<div class='cm-text'><h2>Consent</h2><p>In this game you paint the parts of pictures that show " +
        "what they are, for a computer partner. Your mouse paths and the partner's answers are stored with your " +
        "platform, study and session ids and used for research only. You may stop at any time.</p>" +
        "<p>Do you agree to take part?</p></div>",
      choices: ["I agree", "I do not agree"],
      on_finish: (data) => {
        if (data.response !== 0) {
          stopped = true;
          jsPsych.abortExperiment("<p class='cm-text'>You did not consent; you may close this page.</p>");
        }
      },
    });
  }
  timeline.push({
    type: jsPsychInstructions,
    pages: [`<div class='cm-text'><p>Paint the parts of each picture that show what it is.</p><p>The category name ` +
      `is shown above the picture. Press the mouse button on the picture to start painting: from then on, ` +
      `wherever the cursor goes is painted. Your partner, a computer, sees only what you paint and tries to ` +
      `recognise the picture. The sooner it does, the more points you earn (a round lasts at most ` +
      `${s.round_seconds} s).</p><p>Use 'Skip' for a picture that is broken or wrongly labelled.</p></div>`],
    show_clickable_nav: true,
  });
  const check = ClickMe.browserCheck("game", pid, secret, (html) => {
    stopped = true;
    if (html) jsPsych.abortExperiment(html);
  });
  timeline.push(check.trial);
  timeline.push({ type: jsPsychPreload, images: rounds.map((r) => `/images/${encodeURIComponent(r.image_id)}.png`),
    max_load_time: 120000, continue_after_error: false });

  const query = (round, x, y) => check.ready().then(() => ClickMe.post("/api/game/query", { participant_id: pid, round, x, y }, secret, 1));
  const record = (body) => ClickMe.saved(check.ready().then(() => ClickMe.post("/api/game/rounds", {
    participant_id: pid, idempotency_key: `${pid}-r${body.round}-${ClickMe.randomHex(6)}`, ...body }, secret)), pid);

  rounds.forEach((r) => {
    timeline.push({
      type: jsPsychClickmeRound,
      image: `/images/${encodeURIComponent(r.image_id)}.png`, image_id: r.image_id, label: r.label, round: r.round,
      settings: s, query, record, post_trial_gap: 0,
    });
    timeline.push({
      type: jsPsychHtmlButtonResponse,
      stimulus: () => {
        const last = jsPsych.data.getLastTrialData().values()[0];
        score += last.points || 0;
        const head = last.skipped ? "Picture skipped." : last.success
          ? `Your partner recognised the ${ClickMe.escapeHtml(r.label)}: +${(last.points || 0).toFixed(2)} points.`
          : `Your partner did not recognise the ${ClickMe.escapeHtml(r.label)}: 0 points.`;
        return `<p class='cm-text' id='cm-feedback'>${head}<br><br>Score: ${score.toFixed(2)}</p>`;
      },
      choices: ["Next picture"],
      trial_duration: 60000,
    });
  });
  jsPsych.run(timeline);
})();
