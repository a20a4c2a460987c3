//! The epoch loop: train, validate, log, schedule, checkpoint, plot; Ctrl-C, SIGTERM or SIGHUP
//! saves `last.safetensors` and returns cleanly.
use super::ema::Ema;
use super::epoch::{swap_ema, train_epoch, validate};
use super::interrupt::{self, say};
use super::log::{self, EpochRecord};
use super::prefetch::DeviceBatches;
use super::resumable::{self, changed_data, ended, save_last, Mark};
use super::schedule::{self, out_of_time, seconds, EarlyStop, EpochCost, LrSchedule, Plateau};
use super::setup;
use super::step::StepState;
use super::{curves, TrainConfig};
use crate::batches;
use crate::checkpoint::{self, PartialEpoch};
use crate::provenance::{self, Provenance};
use anyhow::{Context, Result};
use serde::Serialize;
use std::path::PathBuf;
use std::time::Instant;

#[derive(Clone, Debug, Serialize)]
pub struct TrainSummary {
    pub run_dir: PathBuf,
    /// Epochs finished (including those of a resumed run's earlier sessions).
    pub epochs: usize,
    pub best_epoch: Option<usize>,
    pub best_valid_dice: Option<f64>,
    pub stopped_early: bool,
    /// A signal stopped the run inside an epoch, saved to be resumed there.
    pub interrupted: bool,
    /// A signal asked the process to stop: inside an epoch (`interrupted`), or once the last epoch
    /// had trained (its validation, its checkpoint write), the run then complete and saved. Either
    /// way a caller goes no further (a pipeline's next member or stage).
    pub stop_requested: bool,
    /// Ended by `time_limit`.
    pub out_of_time: bool,
    /// Wall time of this session.
    pub seconds: f64,
}

/// Trains as `cfg` says (continuing `cfg.resume` if set) and leaves the run directory described in DESIGN.md.
pub fn train(cfg: &TrainConfig) -> Result<TrainSummary> {
    let started = Instant::now();
    cfg.validate()?;
    if cfg.schedule == LrSchedule::Plateau && cfg.anneal < 1.0 {
        eprintln!(
            "note: --anneal shapes the cosine schedule only: add --schedule cosine to use it"
        );
    }
    let run_dir = cfg.resume.clone().unwrap_or_else(|| cfg.run_dir());
    let rt = setup::runtime(cfg)?;
    let mut cfg = cfg.clone().with_absolute_paths()?;
    cfg.out = Some(run_dir.clone());
    let before = (cfg.resume.as_deref())
        .map(|dir| resumable::earlier_config(dir, &cfg))
        .transpose()?;
    let resumed = match &cfg.resume {
        Some(dir) => Some(checkpoint::load_state(dir)?),
        None => {
            checkpoint::check_new_run(&run_dir, cfg.overwrite)?;
            None
        }
    };
    // A resumed run with nothing left to do is left exactly as it was (config, logs, provenance).
    if let Some(state) = &resumed {
        if let Some(done) = ended(&cfg, state) {
            eprintln!("{}: {done}", run_dir.display());
            return Ok(TrainSummary {
                run_dir,
                epochs: state.epoch,
                best_epoch: state.early_stop.best_epoch,
                best_valid_dice: state.early_stop.best,
                stopped_early: done.starts_with("early"),
                interrupted: false,
                stop_requested: false,
                out_of_time: done.starts_with("its time"),
                seconds: started.elapsed().as_secs_f64(),
            });
        }
    }
    let data = setup::data(&cfg)?;
    if let (Some(dir), Some(before)) = (&cfg.resume, &before) {
        let read = (provenance::sessions(dir)?.pop()).map_or(vec![], |last| last.inputs);
        if let Some(note) = changed_data((before, &read), (&cfg, &data.inputs)) {
            eprintln!("{note}");
        }
    }
    let (vs, model) = setup::model(&cfg, rt.device, cfg.resume.as_deref())?;
    // Only once the data and model load: a run refused there leaves no config to resume, and
    // `--overwrite` with a mistyped dataset keeps the earlier run.
    if resumed.is_none() {
        checkpoint::clear_for_new_run(&run_dir, cfg.overwrite)?;
        super::members::note_left_beside(&run_dir);
    }
    std::fs::create_dir_all(&run_dir)
        .with_context(|| format!("creating run directory {}", run_dir.display()))?;
    checkpoint::write_atomic(&run_dir.join(checkpoint::CONFIG), cfg.to_toml()?.as_bytes())?;
    let mut inputs = data.inputs.clone();
    inputs.extend(setup::weights_input(&cfg, cfg.resume.as_deref())?);
    provenance::record(
        &run_dir,
        Provenance::now(rt.device, inputs),
        resumed.is_some(),
    )?;
    let mut st = StepState::new(&vs, cfg.lr, rt.precision)?;
    let st_device = st.device;
    st.channels_last = cfg.layout.channels_last();
    st.dice = cfg.dice;
    if let Some(decay) = cfg.ema {
        st.ema = Some(Ema::new(&vs, st.optimizer.flat_param(), decay)?);
    }
    let mut plateau = Plateau::new(cfg.plateau_factor, cfg.plateau_patience);
    let mut early = EarlyStop::new(cfg.early_stop);
    let mut records = vec![];
    let metrics_path = run_dir.join(checkpoint::METRICS);
    if let (Some(state), Some(before)) = (&resumed, &before) {
        (plateau, early, records) = resumable::restore(&run_dir, (state, before), &cfg, &mut st)?;
    }
    // Ctrl-C, SIGTERM and SIGHUP save the run (below) while this lives.
    let armed = interrupt::install(&interrupt::TRAINING);
    let first = resumed.as_ref().map_or(1, |s| s.epoch + 1);
    let earlier_seconds = resumed.as_ref().map_or(0.0, |s| s.seconds);
    say!(
        "training on {} ({:?}{}): {} train / {} valid images at {}², batch {}, epochs {first}..={}, run {}",
        crate::device::device_name(rt.device),
        rt.precision,
        if st.channels_last { ", channels-last" } else { "" },
        data.train.len(),
        data.valid.len(),
        cfg.size,
        cfg.batch,
        cfg.epochs,
        run_dir.display()
    );
    let mut summary = TrainSummary {
        run_dir: run_dir.clone(),
        epochs: first - 1,
        best_epoch: early.best_epoch,
        best_valid_dice: early.best,
        stopped_early: false,
        interrupted: false,
        stop_requested: false,
        out_of_time: false,
        seconds: 0.0,
    };
    if let (Some(_), Some(limit)) = (&resumed, cfg.time_limit) {
        say!(
            "time limit: {} of {} used by the earlier sessions",
            seconds(earlier_seconds),
            seconds(limit)
        );
    }
    let loop_start = Instant::now();
    // The run's clock: a resumed run continues from its earlier sessions' seconds.
    let clock = || earlier_seconds + loop_start.elapsed().as_secs_f64();
    let mark = |epoch, interrupted, finished, next_epoch| Mark {
        epoch,
        interrupted,
        finished,
        seconds: clock(),
        next_epoch,
        partial: None,
    };
    let save = |st: &StepState, plateau: &Plateau, early: &EarlyStop, at: Mark| {
        save_last(&run_dir, &vs, st, plateau, early, at)
    };
    let mut cost = (resumed.as_ref()).map_or_else(EpochCost::default, |s| {
        EpochCost::resumed(s.next_epoch_seconds)
    });
    // An epoch whose checkpoint `--save-every` skipped.
    let mut unsaved: Option<usize> = None;
    // The next epoch's batches start preparing while this epoch validates and checkpoints, so the
    // GPU does not wait for the first batches of every epoch.
    let train_feed = |epoch: usize, first: usize| {
        let loader =
            batches::epoch_from(data.train.clone(), &data.train_loader, epoch as u64, first);
        DeviceBatches::new(loader, st_device)
    };
    let mut next_feed = None;
    let mut resumed_inside = match (&resumed, &before) {
        (Some(state), Some(before)) => resumable::stopped_inside(state, before, &cfg),
        _ => None,
    };
    for epoch in first..=cfg.epochs {
        let (now, next) = (clock(), cost.estimate());
        // An epoch stopped inside was started within the limit: it finishes (as `ended` judged).
        if resumed_inside.is_none() && out_of_time(&cfg, now, next) {
            // The state says what ended the run, so that a resume with this limit stops here too.
            match unsaved {
                Some(e) => save(&st, &plateau, &early, mark(e, false, true, next))?,
                None => resumable::finish(&run_dir, now, next)?,
            }
            say!(
                "time limit: {} of {} used, the next epoch would not fit (about {})",
                seconds(now),
                seconds(cfg.time_limit.unwrap_or_default()),
                seconds(next)
            );
            summary.out_of_time = true;
            break;
        }
        let t0 = Instant::now();
        let cosine = cfg.schedule == LrSchedule::Cosine;
        let at = schedule::progress(epoch, cfg.epochs, clock(), cost.estimate(), cfg.time_limit);
        if cosine {
            st.optimizer
                .set_lr(schedule::cosine_lr(cfg.lr, at, cfg.anneal));
        }
        let held = cosine && !schedule::annealing(at, cfg.anneal);
        let lr = st.optimizer.lr();
        let from = resumed_inside.take().unwrap_or(PartialEpoch {
            skipped_before: st.scaler.skipped_steps(),
            ..PartialEpoch::default()
        });
        let feed = next_feed
            .take()
            .unwrap_or_else(|| train_feed(epoch, from.images));
        let n_batches = from.batches + feed.n_batches();
        let (done, wait_fraction) = train_epoch(&cfg, feed, &model, &mut st, epoch, from)?;
        if epoch < cfg.epochs && !interrupt::requested() {
            next_feed = Some(train_feed(epoch + 1, 0));
        }
        if interrupt::requested() {
            // Everything as it stands inside the epoch, so that --resume finishes it exactly.
            let at = Mark {
                partial: Some(done),
                ..mark(epoch - 1, true, false, cost.estimate())
            };
            save(&st, &plateau, &early, at)?;
            say!(
                "interrupted: saved {} in epoch {epoch}, after {} of {n_batches} batches",
                checkpoint::LAST,
                done.batches
            );
            summary.interrupted = true;
            break;
        }
        let train_loss = done.loss_sum / done.batches.max(1) as f64;
        // With EMA, the averaged weights are validated and, when best, saved.
        swap_ema(&mut st);
        let valid_dice = validate(&data, &model, &st);
        let best = early.observe(epoch, valid_dice);
        if held {
            early.hold();
        }
        if best {
            checkpoint::save_model(&vs, &run_dir.join(checkpoint::BEST))?;
        }
        swap_ema(&mut st);
        let record = EpochRecord {
            epoch,
            train_loss,
            valid_dice,
            lr,
            seconds: t0.elapsed().as_secs_f64(),
            data_wait_fraction: wait_fraction,
            skipped_steps: st.scaler.skipped_steps() - done.skipped_before,
        };
        log::append(&metrics_path, &record)?;
        // The plateau's counters run under either schedule; only its own schedule applies its rate.
        let plateau_lr = plateau.step(valid_dice, lr);
        if cfg.schedule == LrSchedule::Plateau {
            st.optimizer.set_lr(plateau_lr);
        }
        // The last epoch ends the run anyway: it is no early stop.
        let stop = early.should_stop() && epoch < cfg.epochs;
        // Judged before this epoch's checkpoint write, which the estimate then leaves out: the time
        // limit's margin absorbs one write.
        let next = cost.estimate_with(t0.elapsed().as_secs_f64());
        let last_epoch = stop || epoch == cfg.epochs || out_of_time(&cfg, clock(), next);
        unsaved = Some(epoch);
        if last_epoch || epoch.is_multiple_of(cfg.save_every) {
            save(&st, &plateau, &early, mark(epoch, false, last_epoch, next))?;
            unsaved = None;
        }
        records.push(record.clone());
        curves::draw(&records, &run_dir.join(checkpoint::CURVES))?;
        say!(
            "epoch {epoch}/{}: loss {train_loss:.4} valid Dice {valid_dice:.4}{} lr {lr:.1e} {:.1}s (data wait {:.0}%{})",
            cfg.epochs,
            if best { " (best)" } else { "" },
            record.seconds,
            100.0 * wait_fraction,
            if record.skipped_steps > 0 { format!(", {} skipped steps", record.skipped_steps) } else { String::new() }
        );
        summary.epochs = epoch;
        // Validation and checkpoint writes count too: they are part of what the next epoch costs.
        cost.observe(t0.elapsed().as_secs_f64());
        if stop {
            say!(
                "early stop: no better valid Dice for {}",
                crate::report::count(cfg.early_stop, "epoch")
            );
            summary.stopped_early = true;
            break;
        }
    }
    // Handled signals end the process again from here, so none can come unseen after the test.
    drop(armed);
    summary.stop_requested = interrupt::requested();
    if summary.stop_requested && !summary.interrupted {
        say!("interrupted after the last epoch finished; the run is complete");
    }
    summary.best_epoch = early.best_epoch;
    summary.best_valid_dice = early.best;
    summary.seconds = started.elapsed().as_secs_f64();
    Ok(summary)
}
