/* jsPsych plugin: one rapid-categorization trial timed in animation frames.
 *
 * Fixation for round(fixation_ms x rate) frames (longer only if the image has not decoded yet),
 * the image for round(stimulus_ms x rate) frames, where the rate is this trial's own estimate
 * (median interval of its fixation frames), then a blank screen until response_window_ms after
 * onset. Onset and offset are the requestAnimationFrame timestamps of the frames that showed and
 * hid the image; the measured duration is their difference, the measured frames that duration
 * over the frame period. A key counts from onset until response_window_ms after it; its time is
 * the keydown event's timeStamp (same clock as the frame timestamps). "Too slow!" (and, in
 * training, "Correct"/"Wrong") follow; then the trial is posted and the next one starts.
 */
"use strict";

var jsPsychFrameTimedTrial = (function (jspsych) {
  const P = jspsych.ParameterType;
  const info = {
    name: "frame-timed-trial",
    version: "1.0.0",
    parameters: {
      stimulus: { type: P.IMAGE, default: undefined },
      image_size: { type: P.INT, default: 256 },
      fixation_ms: { type: P.FLOAT, default: 1100 },
      stimulus_ms: { type: P.FLOAT, default: 400 },
      response_window_ms: { type: P.FLOAT, default: 550 },
      refresh_hz: { type: P.FLOAT, default: 60 },
      choices: { type: P.KEYS, default: ["s", "l"] },
      too_slow_ms: { type: P.FLOAT, default: 1000 },
      feedback_ms: { type: P.FLOAT, default: 0 },
      is_target: { type: P.BOOL, default: null },
      target_key: { type: P.STRING, default: "s" },
      record: { type: P.FUNCTION, default: null },
    },
    data: {
      response: { type: P.STRING }, rt_ms: { type: P.FLOAT }, rt_frames: { type: P.INT },
      refresh_hz: { type: P.FLOAT }, fixation_frames: { type: P.INT }, fixation_ms: { type: P.FLOAT },
      stim_frames_requested: { type: P.INT }, stim_frames: { type: P.INT }, stim_ms: { type: P.FLOAT },
      frame_intervals_ms: { type: P.COMPLEX }, onset_ms: { type: P.FLOAT },
    },
  };

  class FrameTimedTrialPlugin {
    constructor(jsPsych) {
      this.jsPsych = jsPsych;
    }

    trial(display_element, trial) {
      const size = trial.image_size;
      display_element.innerHTML =
        `<div class="rc-stage" style="width:${size}px;height:${size}px">` +
        `<img class="rc-stim" alt="" width="${size}" height="${size}" style="visibility:hidden">` +
        `<div class="rc-fix">+</div><div class="rc-text"></div></div>`;
      // ?photodiode=1: a square in the top-left corner turns white exactly while the image is shown,
      // for a photodiode taped to the screen (docs/online.md)
      const diode = ClickMe.params.get("photodiode") ? document.createElement("div") : null;
      if (diode) {
        diode.className = "rc-photodiode";
        display_element.appendChild(diode);
      }
      const show = (visible) => {
        img.style.visibility = visible ? "visible" : "hidden";
        if (diode) diode.style.background = visible ? "#fff" : "#000";
      };
      const img = display_element.querySelector(".rc-stim");
      const fix = display_element.querySelector(".rc-fix");
      const text = display_element.querySelector(".rc-text");
      let decoded = false;
      img.src = trial.stimulus;
      img.decode().then(() => { decoded = true; }, () => { decoded = true; });

      const wantFix = Math.max(1, Math.round((trial.fixation_ms * trial.refresh_hz) / 1000));
      const fixTimes = [];
      const stimTimes = [];
      let phase = "fixation";
      let onset = null, offset = null, hz = trial.refresh_hz, wantStim = null, framesSinceOnset = 0;
      let key = null, rtMs = null, rtFrames = null;

      const onKey = (e) => {
        if (onset === null || key !== null) return;
        const k = e.key.toLowerCase();
        if (!trial.choices.includes(k)) return;
        const rt = e.timeStamp - onset;
        if (rt < 0 || rt > trial.response_window_ms) return;
        key = k;
        rtMs = rt;
        rtFrames = framesSinceOnset;
      };
      document.addEventListener("keydown", onKey);

      const done = async () => {
        document.removeEventListener("keydown", onKey);
        const period = 1000 / hz;
        const stimMs = offset - onset;
        const intervals = [];
        for (let i = 1; i < stimTimes.length; i++) intervals.push(stimTimes[i] - stimTimes[i - 1]);
        const data = {
          response: key, rt_ms: rtMs, rt_frames: rtFrames, refresh_hz: hz,
          fixation_frames: fixTimes.length, fixation_ms: onset - fixTimes[0],
          stim_frames_requested: wantStim, stim_frames: Math.round(stimMs / period), stim_ms: stimMs,
          frame_intervals_ms: intervals, onset_ms: onset,
        };
        img.style.visibility = "hidden";
        fix.style.visibility = "hidden";
        let message = null;
        if (trial.feedback_ms > 0) {
          message = key === null ? "Too slow!" : ((key === trial.target_key) === trial.is_target ? "Correct" : "Wrong");
        } else if (key === null) {
          message = "Too slow!";
        }
        const shown = message ? trial.feedback_ms > 0 ? trial.feedback_ms : trial.too_slow_ms : 0;
        if (message) text.textContent = message;
        const saved = trial.record ? trial.record(data) : Promise.resolve(null);
        await Promise.all([saved, new Promise((r) => setTimeout(r, shown))]);
        data.server = await saved;
        display_element.innerHTML = "";
        this.jsPsych.finishTrial(data);
      };

      const step = (ts) => {
        if (phase === "fixation") {
          fixTimes.push(ts);
          if (fixTimes.length >= wantFix && decoded) {
            hz = ClickMe.rateFromTimes(fixTimes) || trial.refresh_hz;
            wantStim = Math.max(1, Math.round((trial.stimulus_ms * hz) / 1000));
            fix.style.visibility = "hidden";
            show(true);
            onset = ts;
            stimTimes.push(ts);
            phase = "stimulus";
          }
        } else {
          framesSinceOnset++;
          if (phase === "stimulus") {
            stimTimes.push(ts);
            if (stimTimes.length - 1 >= wantStim) {
              show(false);
              offset = ts;
              phase = "response";
            }
          }
          if (phase === "response" && (key !== null || ts - onset >= trial.response_window_ms)) {
            done();
            return;
          }
        }
        requestAnimationFrame(step);
      };
      requestAnimationFrame(step);
    }
  }
  FrameTimedTrialPlugin.info = info;
  return FrameTimedTrialPlugin;
})(jsPsychModule);
