//! Probability-threshold search: one pass over each image's probabilities scores every grid
//! threshold at once (a histogram over the grid), so tuning costs one prediction of the split.
use crate::metrics::Confusion;
use crate::postprocess::Postprocess;
use crate::predict::ProbMap;
use anyhow::{bail, Context, Result};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use std::path::Path;

/// File name of the tuned threshold inside a run directory.
pub const FILE: &str = "threshold.json";
/// Threshold used when a run has no threshold.json.
pub const DEFAULT: f32 = 0.5;
/// `--threshold-grid` default: 0.05…0.95 step 0.05.
pub const DEFAULT_GRID: &str = "0.05:0.95:0.05";

/// Parse `START:STOP:STEP` (inclusive) or a comma list `0.3,0.5,0.7` into an ascending grid in (0, 1).
pub fn parse_grid(s: &str) -> Result<Vec<f32>> {
    let grid: Vec<f32> = if s.contains(':') {
        let parts: Vec<f64> = s
            .split(':')
            .map(|p| p.trim().parse::<f64>())
            .collect::<Result<_, _>>()
            .with_context(|| format!("threshold grid {s:?}: expected START:STOP:STEP numbers"))?;
        let [start, stop, step] = parts[..] else {
            bail!("threshold grid {s:?}: expected START:STOP:STEP");
        };
        if step <= 0.0 || stop < start {
            bail!("threshold grid {s:?}: need STEP > 0 and STOP >= START");
        }
        // Counted steps (not repeated addition) and rounding keep 0.15 from becoming 0.15000001.
        let n = ((stop - start) / step + 1e-9).floor() as usize;
        (0..=n)
            .map(|i| ((start + i as f64 * step) * 1e6).round() / 1e6)
            .map(|t| t as f32)
            .collect()
    } else {
        s.split(',')
            .map(|p| p.trim().parse::<f32>())
            .collect::<Result<_, _>>()
            .with_context(|| format!("threshold grid {s:?}: expected comma-separated numbers"))?
    };
    if grid.is_empty() {
        bail!("threshold grid {s:?} is empty");
    }
    if let Some(t) = grid.iter().find(|t| !(**t >= 0.0 && **t < 1.0)) {
        bail!("threshold grid {s:?}: {t} is outside [0, 1)");
    }
    if grid.windows(2).any(|w| w[0] >= w[1]) {
        bail!("threshold grid {s:?} must be strictly ascending");
    }
    Ok(grid)
}

/// Confusion counts of every image at every grid threshold.
#[derive(Clone, Debug)]
pub struct Curves {
    pub thresholds: Vec<f32>,
    /// `per_image[i][k]`: image i binarised at `thresholds[k]`.
    pub per_image: Vec<Vec<Confusion>>,
}

impl Curves {
    pub fn new(thresholds: Vec<f32>) -> Curves {
        Curves {
            thresholds,
            per_image: Vec::new(),
        }
    }

    /// Score one image at all thresholds (rule `prob > t`, as everywhere else).
    pub fn add_image(&mut self, probs: &[f32], truth: &[u8]) {
        assert_eq!(
            probs.len(),
            truth.len(),
            "probability and truth sizes differ"
        );
        let n = self.thresholds.len();
        // hist[k]: pixels whose probability exceeds exactly the first k thresholds.
        let mut pos = vec![0u64; n + 1];
        let mut neg = vec![0u64; n + 1];
        for (&p, &t) in probs.iter().zip(truth) {
            let k = self.thresholds.partition_point(|&th| th < p);
            if t != 0 {
                pos[k] += 1;
            } else {
                neg[k] += 1;
            }
        }
        let (all_pos, all_neg): (u64, u64) = (pos.iter().sum(), neg.iter().sum());
        let mut row = Vec::with_capacity(n);
        // Positive at threshold i ⇔ k > i: suffix sums from the top.
        let (mut tp, mut fp) = (0u64, 0u64);
        let mut suffix = vec![(0u64, 0u64); n];
        for i in (0..n).rev() {
            tp += pos[i + 1];
            fp += neg[i + 1];
            suffix[i] = (tp, fp);
        }
        for &(tp, fp) in &suffix {
            row.push(Confusion {
                tp,
                fp,
                fn_: all_pos - tp,
                tn: all_neg - fp,
            });
        }
        self.per_image.push(row);
    }

    /// Score one image at all thresholds after `pp`. `None` takes the one-pass histogram; `Largest`
    /// binarises and labels the image once per threshold (in parallel over the grid).
    pub fn add_prob_map(&mut self, prob: &ProbMap, truth: &[u8], pp: Postprocess) {
        if pp == Postprocess::None {
            return self.add_image(&prob.data, truth);
        }
        let row = self
            .thresholds
            .par_iter()
            .map(|&t| Confusion::from_masks(pp.apply(prob, t).as_raw(), truth))
            .collect();
        self.per_image.push(row);
    }

    /// Mean over images of the Dice at each threshold.
    pub fn mean_dice(&self) -> Vec<f64> {
        let n = self.per_image.len().max(1) as f64;
        (0..self.thresholds.len())
            .map(|k| self.per_image.iter().map(|row| row[k].dice()).sum::<f64>() / n)
            .collect()
    }

    /// Dice of all pixels pooled, at each threshold.
    pub fn global_dice(&self) -> Vec<f64> {
        (0..self.thresholds.len())
            .map(|k| {
                let mut c = Confusion::default();
                self.per_image.iter().for_each(|row| c.add(&row[k]));
                c.dice()
            })
            .collect()
    }

    /// The threshold with the best mean Dice; ties go to the lowest threshold.
    pub fn best(&self) -> (f32, f64) {
        let dice = self.mean_dice();
        let mut best = 0;
        for (k, d) in dice.iter().enumerate() {
            if *d > dice[best] {
                best = k;
            }
        }
        (self.thresholds[best], dice[best])
    }
}

/// `threshold.json`: the tuned value, the post-processing chosen with it, and the curve they came from.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ThresholdFile {
    pub threshold: f32,
    /// Files written before post-processing existed mean `none`.
    #[serde(default)]
    pub postprocess: Postprocess,
    pub mean_dice: f64,
    pub split: String,
    pub n_images: usize,
    /// Files from before `d4` existed hold a bool (true = flips).
    pub tta: crate::predict::Tta,
    /// The model input side it was tuned at: a threshold suits the probabilities of one size. Files
    /// from before it was recorded have none, which [`ThresholdFile::tuned_size`] reads as the
    /// training size, the only size inference then defaulted to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size: Option<u32>,
    /// The curve of the chosen post-processing.
    pub curve: Vec<CurvePoint>,
    /// The best threshold of every post-processing that was tried.
    #[serde(default)]
    pub candidates: Vec<Candidate>,
    /// The build, machine, command and inputs (model, the tuning split's annotations and images).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provenance: Option<crate::provenance::Provenance>,
}

/// The SHA-256 of the model checkpoints among `inputs` (a run's `model`, an ensemble's `member k`),
/// in order.
fn models(inputs: &[crate::provenance::Digest]) -> Vec<&str> {
    (inputs.iter())
        .filter(|d| d.role == "model" || d.role.starts_with("member "))
        .map(|d| d.sha256.as_str())
        .collect()
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Candidate {
    pub postprocess: Postprocess,
    pub threshold: f32,
    pub mean_dice: f64,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct CurvePoint {
    pub threshold: f32,
    pub mean_dice: f64,
    pub global_dice: f64,
}

impl ThresholdFile {
    /// The best (threshold, post-processing) pair by mean Dice; ties keep the earlier candidate.
    ///
    /// # Panics
    /// When `tried` is empty.
    pub fn from_curves(
        tried: &[(Postprocess, Curves)],
        split: &str,
        tta: crate::predict::Tta,
    ) -> ThresholdFile {
        let candidates: Vec<Candidate> = tried
            .iter()
            .map(|(pp, c)| {
                let (threshold, mean_dice) = c.best();
                Candidate {
                    postprocess: *pp,
                    threshold,
                    mean_dice,
                }
            })
            .collect();
        let pick = (0..candidates.len())
            .reduce(|a, b| {
                if candidates[b].mean_dice > candidates[a].mean_dice {
                    b
                } else {
                    a
                }
            })
            .expect("at least one post-processing candidate");
        let (postprocess, curves) = (tried[pick].0, &tried[pick].1);
        let (threshold, mean_dice) = (candidates[pick].threshold, candidates[pick].mean_dice);
        let curve = curves
            .thresholds
            .iter()
            .zip(curves.mean_dice())
            .zip(curves.global_dice())
            .map(|((&t, m), g)| CurvePoint {
                threshold: t,
                mean_dice: m,
                global_dice: g,
            })
            .collect();
        ThresholdFile {
            threshold,
            postprocess,
            mean_dice,
            split: split.into(),
            n_images: curves.per_image.len(),
            tta,
            size: None,
            curve,
            candidates,
            provenance: None,
        }
    }

    /// The model input side the threshold was tuned at, given the run's training size.
    pub fn tuned_size(&self, trained: u32) -> u32 {
        self.size.unwrap_or(trained)
    }

    pub fn save(&self, run_dir: &Path) -> Result<()> {
        let path = run_dir.join(FILE);
        std::fs::write(&path, serde_json::to_string_pretty(self)? + "\n")
            .with_context(|| format!("write {}", path.display()))
    }

    /// The run's tuned threshold; None when it was never tuned, or when it was tuned for other
    /// weights than the run has now (a model trained again into the directory, a member of its
    /// ensemble retrained): a threshold belongs to one model's probabilities, so that one is ignored,
    /// with a warning.
    pub fn load(run_dir: &Path) -> Result<Option<ThresholdFile>> {
        let (file, stale) = Self::load_current(run_dir)?;
        if stale {
            warn_stale(run_dir);
        }
        Ok(file)
    }

    /// [`ThresholdFile::load`] without the warning, for what only defaults to the file (the TTA):
    /// a command given its own threshold and post-processing does not use the file at all, so
    /// that one that is stale is no news to it.
    pub fn load_quietly(run_dir: &Path) -> Result<Option<ThresholdFile>> {
        Ok(Self::load_current(run_dir)?.0)
    }

    /// The file when it belongs to the run's weights, and whether it was there but did not.
    fn load_current(run_dir: &Path) -> Result<(Option<ThresholdFile>, bool)> {
        let file: Option<ThresholdFile> =
            crate::checkpoint::read_json_if_present(&run_dir.join(FILE))?;
        let Some(tuned_for) = file.as_ref().and_then(|f| f.provenance.as_ref()) else {
            return Ok((file, false));
        };
        let now = crate::provenance::run_inputs(run_dir, false)?;
        match models(&tuned_for.inputs) == models(&now) {
            true => Ok((file, false)),
            false => Ok((None, true)),
        }
    }

    /// The curve as a text table, best row marked.
    pub fn table(&self) -> String {
        let mut s = format!("post-processing: {}\n", self.postprocess.as_str());
        s += "threshold  mean Dice  global Dice\n";
        for p in &self.curve {
            let mark = if p.threshold == self.threshold {
                "  <- best"
            } else {
                ""
            };
            s += &format!(
                "{:>9.2}  {:>9.4}  {:>11.4}{mark}\n",
                p.threshold, p.mean_dice, p.global_dice
            );
        }
        if self.candidates.len() > 1 {
            for c in &self.candidates {
                s += &format!(
                    "best with post-processing {:<7}  threshold {:.2}  mean Dice {:.4}\n",
                    c.postprocess.as_str(),
                    c.threshold,
                    c.mean_dice
                );
            }
        }
        s
    }
}

/// Says once per run directory that its threshold.json is ignored.
fn warn_stale(run_dir: &Path) {
    static WARNED: std::sync::Mutex<Vec<std::path::PathBuf>> = std::sync::Mutex::new(Vec::new());
    let mut warned = WARNED.lock().unwrap_or_else(|e| e.into_inner());
    if !warned.iter().any(|d| d == run_dir) {
        warned.push(run_dir.to_path_buf());
        eprintln!(
            "warning: {} was tuned for other weights than {} holds now (trained again since?): \
             it is ignored; run `tumorseg tune-threshold` again",
            run_dir.join(FILE).display(),
            run_dir.display()
        );
    }
}
