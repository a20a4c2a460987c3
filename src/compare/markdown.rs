//! A comparison in words: a markdown table per scope (the images, then the volumes when the split's
//! images are slices of volumes), with the verdicts its intervals allow and the warnings.
use super::{Comparison, Hd95Difference};
use crate::metrics::bootstrap::Intervals;
use crate::report::LABELS;
use std::fmt::Write as _;

/// The warning when A and B disagree on some images' (volumes') truth, None when they agree.
pub fn truth_warning(c: &Comparison) -> Option<String> {
    (c.truth_differs > 0).then(|| {
        format!(
            "warning: on {} of the {} shared {}s A and B disagree on the truth (tumour pixels or \
             size): they were not scored against the same annotations, so their difference is not \
             the models'",
            c.truth_differs, c.n_images, c.scope
        )
    })
}

/// The warning when A and B give some images' (volumes') HD95 in different units, None when they
/// agree.
pub fn unit_warning(c: &Comparison) -> Option<String> {
    c.hd95_units_differ.as_ref().map(|u| {
        format!(
            "warning: on {} of the {} shared {}s A gives HD95 in {} and B in {} (scored against \
             annotation files with and without pixel spacings, or one by a tumorseg from before \
             mm): those {}s are left out of the HD95 comparison",
            u.n_images,
            c.n_images,
            c.scope,
            u.a.words(),
            u.b.words(),
            c.scope
        )
    })
}

/// The comparison as markdown tables and verdicts per the Dice intervals: the images', then the
/// volumes' when both sides scored volumes.
pub fn markdown(c: &Comparison, a: &str, b: &str) -> String {
    let mut s = format!("A = {a}\nB = {b}\n");
    section(&mut s, c);
    if let Some(v) = &c.per_volume {
        s += "\nPer volume (per_volume.csv: each volume's slices pooled, HD95 in 3-D). The volumes, \
              not their slices, are the independent cases: these intervals are the ones to trust.\n";
        section(&mut s, v);
    }
    s
}

fn section(s: &mut String, c: &Comparison) {
    let _ = writeln!(
        s,
        "{} compared{}\n",
        crate::report::count(c.n_images, c.scope),
        if c.only_a + c.only_b > 0 {
            format!(
                " ({} only in A and {} only in B left out)",
                c.only_a, c.only_b
            )
        } else {
            String::new()
        }
    );
    for w in [truth_warning(c), unit_warning(c)].into_iter().flatten() {
        let _ = writeln!(s, "**{w}.**\n");
    }
    *s += "| Metric | A mean | B mean | B − A | 95 % CI of B − A | A global | B global | B − A global | 95 % CI |\n";
    *s += "|---|---|---|---|---|---|---|---|---|\n";
    let ci = c.difference_ci95.as_ref();
    let (am, bm, ag, bg) = (
        c.a_mean.values(),
        c.b_mean.values(),
        c.a_global.values(),
        c.b_global.values(),
    );
    // No interval over a single case: a dash, not the difference itself as both bounds.
    let range = |bounds: Option<([f64; 6], [f64; 6])>, k: usize| {
        bounds.map_or("–".into(), |(lo, hi)| {
            format!("{:+.4} … {:+.4}", lo[k], hi[k])
        })
    };
    let mean_ci = ci.map(|i| (i.mean_low.values(), i.mean_high.values()));
    let global_ci = ci.map(|i| (i.global_low.values(), i.global_high.values()));
    for (k, label) in LABELS.iter().enumerate() {
        let _ = writeln!(
            s,
            "| {label} | {:.4} | {:.4} | {:+.4} | {} | {:.4} | {:.4} | {:+.4} | {} |",
            am[k],
            bm[k],
            bm[k] - am[k],
            range(mean_ci, k),
            ag[k],
            bg[k],
            bg[k] - ag[k],
            range(global_ci, k),
        );
    }
    let _ = writeln!(
        s,
        "\nPer {}, B's Dice is higher on {}, lower on {}, equal on {}.\n{}",
        c.scope,
        c.b_better,
        c.b_worse,
        c.tied,
        verdict(ci, c.scope)
    );
    if let Some(h) = &c.hd95 {
        let _ = writeln!(s, "{}", describe(h, c.scope));
    }
}

fn describe(h: &Hd95Difference, scope: &str) -> String {
    let told = match h.difference_ci95 {
        Some((lo, hi)) => format!(
            "(95 % interval {lo:+.2} … {hi:+.2}): {}",
            if hi < 0.0 {
                "B's outlines lie closer to the truth's"
            } else if lo > 0.0 {
                "B's outlines lie farther from the truth's"
            } else {
                "no difference can be told"
            }
        ),
        None => format!("(no interval over one {scope}): no difference can be told"),
    };
    format!(
        "HD95 in {} (lower is better), over the {} where both have one: A {:.2}, B {:.2}, \
         B − A {:+.2} {told}.",
        h.unit.words(),
        crate::report::count(h.n_images, scope),
        h.a_mean,
        h.b_mean,
        h.b_mean - h.a_mean,
    )
}

/// What the mean-Dice interval of B − A over the `scope`s (images, volumes) says, in words.
fn verdict(ci: Option<&Intervals>, scope: &str) -> String {
    let Some(ci) = ci else {
        return format!(
            "No difference in mean Dice can be told from a single {scope}: one case tells no \
             difference from chance."
        );
    };
    let (lo, hi) = (ci.mean_low.dice, ci.mean_high.dice);
    if lo > 0.0 {
        format!("B's mean Dice is higher than A's: the 95 % interval of the difference, {lo:+.4} … {hi:+.4}, excludes 0.")
    } else if hi < 0.0 {
        format!("B's mean Dice is lower than A's: the 95 % interval of the difference, {lo:+.4} … {hi:+.4}, excludes 0.")
    } else {
        format!("No difference in mean Dice can be told on these {scope}s: the 95 % interval of B − A, {lo:+.4} … {hi:+.4}, contains 0.")
    }
}
