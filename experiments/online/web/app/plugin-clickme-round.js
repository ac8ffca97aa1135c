/* jsPsych plugin: one round of the ClickMe game on a canvas.
 *
 * The category name is shown above the image. The first mouse press on the image starts the
 * painting; from then on, under the "interval" rule (the original game's), a point is made every
 * point_interval_ms, stepping at most point_step_px from the last point toward the cursor, and
 * stored only when it differs from the last one (the "frame" rule: the cursor each frame it
 * moved). Each point paints a player_bubble x player_bubble square. While the round runs, the
 * server's partner is asked what it sees (one query in flight, the next one query_min-query_max
 * s after the previous was sent); the round ends when its answer holds the label, when the
 * player skips, or after round_seconds. The round is then posted (idempotency key) and the
 * server's points shown.
 */
"use strict";

var jsPsychClickmeRound = (function (jspsych) {
  const P = jspsych.ParameterType;
  const info = {
    name: "clickme-round",
    version: "1.0.0",
    parameters: {
      image: { type: P.IMAGE, default: undefined },
      image_id: { type: P.STRING, default: undefined },
      label: { type: P.STRING, default: "" },
      round: { type: P.INT, default: 1 },
      settings: { type: P.OBJECT, default: {} },
      query: { type: P.FUNCTION, default: null },
      record: { type: P.FUNCTION, default: null },
    },
    data: { round: { type: P.INT }, skipped: { type: P.BOOL }, n_points: { type: P.INT } },
  };

  class ClickmeRoundPlugin {
    constructor(jsPsych) {
      this.jsPsych = jsPsych;
    }

    trial(display_element, trial) {
      const s = trial.settings;
      const size = s.image_size;
      display_element.innerHTML =
        `<div class="cm-round"><div class="cm-label" id="cm-label">${ClickMe.escapeHtml(trial.label)}</div>` +
        `<canvas id="cm-canvas" width="${size}" height="${size}"></canvas>` +
        `<div class="cm-timer"><div id="cm-timer-bar"></div></div>` +
        `<button class="jspsych-btn" id="cm-skip">Skip this picture</button></div>`;
      const canvas = display_element.querySelector("#cm-canvas");
      const bar = display_element.querySelector("#cm-timer-bar");
      const g = canvas.getContext("2d");
      const img = new Image();
      const color = `rgba(${s.overlay_color.join(",")},${s.overlay_alpha})`;
      const half = s.player_bubble / 2;
      const xs = [], ys = [], ts = [], guesses = [];
      let cursor = null, firstPress = null, nextPoint = null, skipped = false, ended = false, success = false;
      let inFlight = false, nextQuery = 0, start = null, frames = 0, lastFrame = null, maxFrame = 0;

      const position = (e) => {
        const r = canvas.getBoundingClientRect();
        return [((e.clientX - r.left) * size) / r.width, ((e.clientY - r.top) * size) / r.height];
      };
      const draw = () => {
        g.drawImage(img, 0, 0, size, size);
        g.fillStyle = color;
        // one square per distinct painted pixel block: overlapping squares must not darken
        g.beginPath();
        for (let i = 0; i < xs.length; i++) g.rect(Math.round(xs[i] - half), Math.round(ys[i] - half), s.player_bubble, s.player_bubble);
        g.fill("nonzero");
      };
      const addPoint = (x, y, t) => {
        x = Math.round(x * 10) / 10;
        y = Math.round(y * 10) / 10;
        const n = xs.length;
        if (n && xs[n - 1] === x && ys[n - 1] === y) return;
        xs.push(x); ys.push(y); ts.push(Math.round(t * 10) / 10);
        draw();
      };
      // a step's components are cut toward zero to 0.1 px, so a step never exceeds point_step_px
      // (experiments.game.task.next_points, the PsychoPy game's rule)
      const towardZero = (v) => Math.sign(v) * Math.floor(Math.abs(v) * 10 + 1e-6) / 10;
      const stepToward = (t) => {
        const n = xs.length;
        const [lx, ly] = [xs[n - 1], ys[n - 1]];
        const dx = cursor[0] - lx, dy = cursor[1] - ly, d = Math.hypot(dx, dy);
        const k = d <= s.point_step_px ? 1 : s.point_step_px / d;
        addPoint(lx + towardZero(k * dx), ly + towardZero(k * dy), t);
      };
      const onMove = (e) => { cursor = position(e); };
      const onDown = (e) => {
        cursor = position(e);
        if (firstPress !== null || start === null) return;
        firstPress = performance.now() - start;
        addPoint(cursor[0], cursor[1], firstPress);
        nextPoint = firstPress + s.point_interval_ms;
      };
      const ask = (t) => {
        inFlight = true;
        const n = xs.length;
        nextQuery = t + 1000 * (s.query_min + Math.random() * (s.query_max - s.query_min));
        trial.query(trial.round, xs.slice(), ys.slice()).then((a) => {
          inFlight = false;
          if (ended) return;
          guesses.push({ t_sent: Math.round(t * 10) / 10, t: Math.round((performance.now() - start) * 10) / 10,
            n_points: a.n_points, top: a.top, compute_ms: a.compute_ms, asked: a.asked, signature: a.signature });
          if (a.correct) { success = true; end(); }
        }, () => { inFlight = false; });
        return n;
      };
      const end = async () => {
        if (ended) return;
        ended = true;
        const duration = Math.round((performance.now() - start) * 10) / 10;
        document.removeEventListener("mousemove", onMove);
        canvas.removeEventListener("mousedown", onDown);
        display_element.querySelector("#cm-skip").disabled = true;
        const reply = await trial.record({
          round: trial.round, image_id: trial.image_id, x: xs, y: ys, t: ts, guesses, skipped,
          first_press_t: firstPress === null ? null : Math.round(firstPress * 10) / 10, duration_ms: duration,
          n_frames: frames, max_frame_ms: Math.round(maxFrame * 10) / 10,
        });
        display_element.innerHTML = "";
        this.jsPsych.finishTrial({ round: trial.round, skipped, n_points: xs.length, success: reply.success,
          points: reply.points });
      };
      const loop = (now) => {
        if (ended) return;
        frames++;
        if (lastFrame !== null) maxFrame = Math.max(maxFrame, now - lastFrame);
        lastFrame = now;
        const t = performance.now() - start;
        if (firstPress !== null && cursor !== null) {
          if (s.point_rule === "frame") {
            addPoint(cursor[0], cursor[1], t);
          } else {
            while (nextPoint <= t) {
              stepToward(nextPoint);
              nextPoint += s.point_interval_ms;
            }
          }
          if (!inFlight && t >= nextQuery) ask(t);
        }
        bar.style.width = `${Math.max(0, 100 * (1 - t / (1000 * s.round_seconds)))}%`;
        if (t >= 1000 * s.round_seconds) { end(); return; }
        requestAnimationFrame(loop);
      };
      display_element.querySelector("#cm-skip").addEventListener("click", () => { skipped = true; end(); });
      document.addEventListener("mousemove", onMove);
      canvas.addEventListener("mousedown", onDown);
      img.onload = () => {
        draw();
        start = performance.now();
        requestAnimationFrame(loop);
      };
      img.src = trial.image;
    }
  }
  ClickmeRoundPlugin.info = info;
  return ClickmeRoundPlugin;
})(jsPsychModule);
