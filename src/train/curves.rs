//! `curves.png`: train loss (left) and valid Dice (right) per epoch, drawn with plotters' bitmap backend.
//! Text uses the embedded font (`crate::font`); should registering it fail, the panels are drawn without text.
use super::log::EpochRecord;
use anyhow::{anyhow, Result};
use plotters::prelude::*;
use std::path::Path;

/// Draws both curves into `path` (PNG, 1000×400).
pub fn draw(records: &[EpochRecord], path: &Path) -> Result<()> {
    let text = crate::font::ensure();
    let root = BitMapBackend::new(path, (1000, 400)).into_drawing_area();
    root.fill(&WHITE)
        .map_err(|e| anyhow!("drawing {}: {e}", path.display()))?;
    let (left, right) = root.split_horizontally(500);
    let loss: Vec<(f64, f64)> = records
        .iter()
        .map(|r| (r.epoch as f64, r.train_loss))
        .collect();
    let dice: Vec<(f64, f64)> = records
        .iter()
        .map(|r| (r.epoch as f64, r.valid_dice))
        .collect();
    panel(&left, &loss, "train loss", RED, text)
        .map_err(|e| anyhow!("drawing {}: {e}", path.display()))?;
    panel(&right, &dice, "valid Dice", BLUE, text)
        .map_err(|e| anyhow!("drawing {}: {e}", path.display()))?;
    root.present()
        .map_err(|e| anyhow!("writing {}: {e}", path.display()))?;
    Ok(())
}

type Area<'a> = DrawingArea<BitMapBackend<'a>, plotters::coord::Shift>;

fn panel(
    area: &Area,
    points: &[(f64, f64)],
    title: &str,
    color: RGBColor,
    text: bool,
) -> Result<(), String> {
    let x_max = points.iter().map(|p| p.0).fold(1.0, f64::max);
    let (lo, hi) = points
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), p| {
            (lo.min(p.1), hi.max(p.1))
        });
    let (lo, hi) = if lo.is_finite() { (lo, hi) } else { (0.0, 1.0) };
    let pad = ((hi - lo) * 0.1).max(1e-3);
    let mut builder = ChartBuilder::on(area);
    builder.margin(10);
    if text {
        builder
            .caption(title, ("sans-serif", 20))
            .x_label_area_size(30)
            .y_label_area_size(50);
    }
    let mut chart = builder
        .build_cartesian_2d(1.0..x_max.max(2.0), (lo - pad)..(hi + pad))
        .map_err(|e| e.to_string())?;
    let mut mesh = chart.configure_mesh();
    if text {
        let ticks = (x_max as usize).clamp(2, 10);
        mesh.x_desc("epoch")
            .x_labels(ticks)
            .x_label_formatter(&|x| format!("{x:.0}"));
    } else {
        mesh.disable_x_mesh()
            .disable_y_mesh()
            .x_labels(0)
            .y_labels(0);
    }
    mesh.draw().map_err(|e| e.to_string())?;
    chart
        .draw_series(LineSeries::new(
            points.iter().copied(),
            color.stroke_width(2),
        ))
        .map_err(|e| e.to_string())?;
    chart
        .draw_series(points.iter().map(|p| Circle::new(*p, 3, color.filled())))
        .map_err(|e| e.to_string())?;
    Ok(())
}
