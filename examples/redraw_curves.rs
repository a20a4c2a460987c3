//! Redraw a run's curves.png from its metrics.jsonl: `cargo run --release --example redraw_curves RUN_DIR`.
fn main() -> anyhow::Result<()> {
    let run = std::path::PathBuf::from(
        std::env::args()
            .nth(1)
            .expect("usage: redraw_curves RUN_DIR"),
    );
    let records = tumorseg::train::log::read(&run.join("metrics.jsonl"))?;
    tumorseg::train::curves::draw(&records, &run.join("curves.png"))
}
